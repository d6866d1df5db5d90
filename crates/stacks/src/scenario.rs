//! The five scenarios of the contract and the path each is served on.

use std::fmt;
use std::str::FromStr;

/// What a handler does: one of the five paths every stack answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// `/hello`: `{"message":"helowrld"}`.
    Hello,
    /// `/sleep`: waits `sleep_ms`, then the hello body.
    Sleep,
    /// `/upstream`: GETs the upstream URL and passes its status and body through.
    Upstream,
    /// `/cpu`: `{"message":[0,1,...,n-1]}`, serialised per request.
    Cpu,
    /// `/db`: one random row of the World table as `{"id":..,"randomNumber":..}`.
    Db,
}

impl Scenario {
    /// Every scenario, in the contract's order.
    pub const ALL: [Scenario; 5] = [
        Scenario::Hello,
        Scenario::Sleep,
        Scenario::Upstream,
        Scenario::Cpu,
        Scenario::Db,
    ];

    /// The lowercase name: `hello`, `sleep`, `upstream`, `cpu`, `db`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Hello => "hello",
            Scenario::Sleep => "sleep",
            Scenario::Upstream => "upstream",
            Scenario::Cpu => "cpu",
            Scenario::Db => "db",
        }
    }

    /// The request path the scenario is served on, e.g. `/hello`.
    pub fn path(self) -> &'static str {
        match self {
            Scenario::Hello => "/hello",
            Scenario::Sleep => "/sleep",
            Scenario::Upstream => "/upstream",
            Scenario::Cpu => "/cpu",
            Scenario::Db => "/db",
        }
    }

    /// The scenario a request target asks for, ignoring any query string.
    pub fn from_path(target: &str) -> Option<Scenario> {
        let path = target.split_once('?').map_or(target, |(path, _)| path);
        Scenario::ALL.into_iter().find(|s| s.path() == path)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scenario's name that is none of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scenario {0:?}: expected hello, sleep, upstream, cpu or db")]
pub struct UnknownScenario(pub String);

impl FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(s: &str) -> Result<Self, UnknownScenario> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| scenario.as_str() == s)
            .ok_or_else(|| UnknownScenario(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scenario in Scenario::ALL {
            assert_eq!(scenario.as_str().parse::<Scenario>(), Ok(scenario));
            assert_eq!(Scenario::from_path(scenario.path()), Some(scenario));
        }
        let err = "Hello".parse::<Scenario>().unwrap_err();
        assert_eq!(err, UnknownScenario("Hello".into()));
        assert_eq!(
            err.to_string(),
            r#"unknown scenario "Hello": expected hello, sleep, upstream, cpu or db"#
        );
    }

    #[test]
    fn paths_ignore_the_query_string() {
        assert_eq!(Scenario::from_path("/db?x=1"), Some(Scenario::Db));
        assert_eq!(Scenario::from_path("/"), None);
        assert_eq!(Scenario::from_path("/hello/"), None);
    }
}
