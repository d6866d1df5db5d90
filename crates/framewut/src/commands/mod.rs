//! One module per subcommand.

pub mod ab;
pub mod compare;
pub mod completions;
pub mod db;
pub mod guard;
pub mod k8s;
pub mod knee;
pub mod list;
pub mod load;
pub mod man;
pub mod merge;
pub mod report;
pub mod run;
pub mod serve;
pub mod setup;
pub mod tls;
pub mod upstream;
