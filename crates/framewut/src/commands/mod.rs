//! One module per subcommand.

pub mod db;
pub mod list;
pub mod load;
pub mod run;
pub mod serve;
pub mod setup;
pub mod upstream;
