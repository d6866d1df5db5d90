//! A process that cannot have an epoll instance is told so by an error, not
//! a panic. Alone in its test binary: it lowers the process's limit of open
//! files for good and uses every descriptor up to it.

use std::error::Error;
use std::fs::File;

use framewut_load::{LoadError, LoadPlan, Stop, Target};

#[test]
fn a_process_out_of_descriptors_is_told_it_cannot_create_an_epoll_instance() {
    let mut plan = LoadPlan::new(Target::parse("http://127.0.0.1:9/").unwrap());
    plan.connections = 1;
    plan.threads = 1;
    plan.stop = Stop::Requests(1);
    // Low enough to fill, high enough that one connection and the spare
    // descriptors the engine asks for fit under it.
    let limit = libc::rlimit {
        rlim_cur: 64,
        rlim_max: 64,
    };
    // SAFETY: setrlimit reads the struct it is handed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let mut files = Vec::new();
    let full = loop {
        match File::open("/dev/null") {
            Ok(file) => files.push(file),
            Err(e) => break e,
        }
    };
    assert_eq!(full.raw_os_error(), Some(libc::EMFILE));

    let err = framewut_load::run(&plan).expect_err("no descriptor is left for epoll");
    drop(files);
    assert!(matches!(err, LoadError::Epoll { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("cannot create an epoll instance: ")
            && message.ends_with("(the process may be out of file descriptors or memory)"),
        "{message}"
    );
    let source = err.source().expect("the OS error as its source");
    let source = source
        .downcast_ref::<std::io::Error>()
        .expect("an io::Error");
    assert_eq!(source.raw_os_error(), Some(libc::EMFILE));
}
