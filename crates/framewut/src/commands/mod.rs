//! One module per subcommand.

pub mod compare;
pub mod db;
pub mod k8s;
pub mod knee;
pub mod list;
pub mod load;
pub mod report;
pub mod run;
pub mod serve;
pub mod setup;
pub mod upstream;
