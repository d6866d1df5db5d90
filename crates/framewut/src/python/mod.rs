//! Python stacks: framewut's own virtual environment, the apps it runs, and
//! the table of servers and worker classes that serve them.
//!
//! The lab calls [`ensure_python_env`] once for any matrix with a Python
//! stack; where it fails, the error says what to install, and those cells are
//! skipped with that reason. Each [`PythonStack`] then builds the command
//! line that serves it:
//!
//! ```no_run
//! use framewut::python::{ensure_python_env, find_python_stack, PythonOptions};
//!
//! let env = ensure_python_env().expect("Python is installed");
//! let stack = find_python_stack("python/flask/gunicorn-meinheld").unwrap();
//! let launch = stack.launch(&env, 5000, 10, &PythonOptions::default()).unwrap();
//! let child = launch.command().spawn().unwrap();
//! ```

mod app;
pub mod app_env;
mod env;
mod error;
mod launch;
mod stacks;
mod variants;

pub use app::{patch_shim, AppLaunch, AppServer, AppStackError, Interface, PATCH_SHIM};
pub use app_env::{check_import, ensure_app_env, AppEnv};
pub use env::{
    ensure_python_env, setup_python, Meinheld, Progress, PythonEnv, SetupOptions, PYTHON_FILES,
};
pub use error::{AppEnvError, PythonStackError, PythonUnavailable, PythonVariantError};
pub use launch::{Launch, PythonOptions, ServerCert};
pub use stacks::{find_python_stack, python_stacks, App, Model, PythonStack, Server};
pub use variants::{PythonVariants, SleepMode, UpstreamClient};
