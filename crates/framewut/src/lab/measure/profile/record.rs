//! Running a profiler: [`start`] attaches it to a stack's processes, and
//! [`Recording::finish`] stops it and writes the profile's files.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use inferno::flamegraph::{self, color::MultiPalette, Palette};

use super::{
    detail, folded, perf, pid_list, pyspy, top_frames, Caught, Output, Profile, ProfileError,
    Profiler, TOP_FRAMES,
};
use crate::lab::measure::process::{Group, GRACE};
use crate::lab::measure::procfs;

/// How long a profiler has to start sampling (perf reads the processes'
/// memory maps first; py-spy retries a process it cannot read yet).
const START_LIMIT: Duration = Duration::from_secs(15);

/// How long a profiler has, after SIGINT, to write its samples and exit.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// Starts `profiler` on a stack's processes, `pids` (all of them: a
/// gunicorn arbiter and its workers), and returns once it samples. py-spy
/// is taken from `python`, the `bin` directory of the stacks' virtual
/// environment ([`PythonEnv::bin`](crate::python::PythonEnv::bin)); perf
/// from the PATH.
///
/// The profiler runs as a process group of its own, stopped and reaped
/// when the [`Recording`] is dropped unfinished, and killed with the lab.
pub fn start(
    profiler: Profiler,
    pids: &[u32],
    python: Option<&Path>,
    caught: Caught,
    output: &Output,
) -> Result<Recording, ProfileError> {
    let program = match profiler {
        Profiler::Perf => Program::Perf(perf::PROGRAM.into()),
        Profiler::PySpy => Program::PySpy(pyspy::program(python)?),
    };
    start_with(program, pids, caught, output)
}

/// The profiler's program: perf's name on the PATH, or py-spy's path.
#[derive(Debug, Clone)]
enum Program {
    Perf(OsString),
    PySpy(PathBuf),
}

impl Program {
    fn profiler(&self) -> Profiler {
        match self {
            Program::Perf(_) => Profiler::Perf,
            Program::PySpy(_) => Profiler::PySpy,
        }
    }
}

/// [`start`] with the program found, or named by a test as one that is missing.
fn start_with(
    program: Program,
    pids: &[u32],
    caught: Caught,
    output: &Output,
) -> Result<Recording, ProfileError> {
    let running: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|pid| procfs::stat(*pid as i32).is_some_and(|p| !p.is_zombie()))
        .collect();
    if running.is_empty() {
        return Err(ProfileError::NotRunning {
            pids: pid_list(pids),
        });
    }
    let dir = output.run_dir.join(&output.dir);
    std::fs::create_dir_all(&dir).map_err(|source| ProfileError::File {
        action: "making",
        path: dir.clone(),
        source,
    })?;
    let mut runs = Vec::new();
    match &program {
        Program::Perf(perf) => {
            let data = output.path("perf.data");
            let (group, control) = perf::record(perf, &running, caught, &data, START_LIMIT)?;
            runs.push(Run {
                group,
                raw: data,
                _control: Some(control),
            });
        }
        Program::PySpy(py_spy) => {
            for root in roots(&running) {
                let raw = output.path(&format!("py-spy-{root}.txt"));
                let group = pyspy::record(py_spy, root, caught, &raw, START_LIMIT)?;
                runs.push(Run {
                    group,
                    raw,
                    _control: None,
                });
            }
        }
    }
    Ok(Recording {
        program,
        pids: running,
        caught,
        runs,
        output: output.clone(),
    })
}

/// A profiler sampling a stack; [`Recording::finish`] ends it.
#[derive(Debug)]
pub struct Recording {
    program: Program,
    pids: Vec<u32>,
    caught: Caught,
    runs: Vec<Run>,
    output: Output,
}

/// One profiler process and the file it writes, removed with it: perf's
/// data, or one py-spy's stacks.
#[derive(Debug)]
struct Run {
    group: Group,
    raw: PathBuf,
    /// perf's control pipe, open while perf runs.
    _control: Option<File>,
}

impl Drop for Run {
    fn drop(&mut self) {
        self.group.stop(GRACE);
        let _ = std::fs::remove_file(&self.raw);
    }
}

impl Recording {
    /// Stops the profiler (SIGINT, and SIGKILL if it has not written its
    /// samples within 30 s), folds its stacks, and writes the folded stacks
    /// and the flame graph. perf's data is removed once folded.
    pub fn finish(mut self) -> Result<Profile, ProfileError> {
        let runs = std::mem::take(&mut self.runs);
        let mut folded = String::new();
        for mut run in runs {
            self.stop(&mut run)?;
            folded.push_str(&match &self.program {
                Program::Perf(perf) => perf::fold(perf, &run.raw)?,
                Program::PySpy(_) => folded::without_pids(&read(&run.raw)?),
            });
        }
        self.write(&folded)
    }

    fn stop(&self, run: &mut Run) -> Result<(), ProfileError> {
        let stopped = run.group.interrupt(STOP_LIMIT);
        // Waits for the output drains, and kills a profiler still running.
        run.group.stop(GRACE);
        let Some(status) = stopped else {
            return Err(ProfileError::Failed {
                profiler: self.program.profiler(),
                step: "stopping",
                detail: format!(
                    "it was still running {} s after SIGINT, and was killed",
                    STOP_LIMIT.as_secs()
                ),
            });
        };
        // perf ends by raising the SIGINT it caught, once its data is written.
        let interrupted =
            std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGINT);
        if status.success() || interrupted {
            return Ok(());
        }
        Err(ProfileError::Failed {
            profiler: self.program.profiler(),
            step: "recording",
            detail: format!("{status}: {}", detail(&run.group.stderr_tail())),
        })
    }

    /// Writes the folded stacks and the flame graph; the profile.
    fn write(&self, folded: &str) -> Result<Profile, ProfileError> {
        let samples = folded::samples(folded);
        if samples == 0 {
            return Err(ProfileError::NoSamples {
                profiler: self.program.profiler(),
                pids: pid_list(&self.pids),
            });
        }
        let mut options = flamegraph::Options::default();
        options.title = self.output.title.clone();
        options.subtitle = Some(format!(
            "{} {} by {} of PIDs {}",
            samples,
            self.caught.unit(),
            self.program.profiler(),
            pid_list(&self.pids)
        ));
        options.colors = Palette::Multi(match self.program {
            Program::Perf(_) => MultiPalette::Rust,
            Program::PySpy(_) => MultiPalette::Python,
        });
        // Colours by name, so a frame has the same colour in every graph.
        options.hash = true;
        let mut svg = Vec::new();
        flamegraph::from_lines(&mut options, folded.lines(), &mut svg).map_err(|err| {
            ProfileError::Failed {
                profiler: self.program.profiler(),
                step: "drawing the flame graph",
                detail: err.to_string(),
            }
        })?;
        write(&self.output.path("folded"), folded.as_bytes())?;
        write(&self.output.path("svg"), &svg)?;
        Ok(Profile {
            profiler: self.program.profiler(),
            folded: self.output.relative("folded"),
            svg: self.output.relative("svg"),
            samples,
            caught: self.caught,
            top: match self.caught {
                Caught::Running => top_frames(folded, TOP_FRAMES),
                Caught::Waiting => top_frames(&folded::waited_in(folded), TOP_FRAMES),
            },
        })
    }
}

/// The processes among `pids` whose parent is not among them: where py-spy
/// starts, following their subprocesses.
fn roots(pids: &[u32]) -> Vec<u32> {
    pids.iter()
        .copied()
        .filter(|pid| procfs::stat(*pid as i32).is_some_and(|p| !pids.contains(&(p.ppid as u32))))
        .collect()
}

fn read(path: &Path) -> Result<String, ProfileError> {
    std::fs::read_to_string(path).map_err(|source| ProfileError::File {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ProfileError> {
    framewut_sys::atomic_write(path, bytes).map_err(|source| ProfileError::File {
        action: "writing",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::measure::profile::tests::output;

    #[test]
    fn a_missing_perf_says_how_to_install_it() {
        let me = [std::process::id()];
        let dir = std::env::temp_dir().join(format!("framewut-profile-{}", me[0]));
        let err = start_with(
            Program::Perf("framewut-test-no-such-perf".into()),
            &me,
            Caught::Running,
            &output(&dir),
        )
        .unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(err, ProfileError::PerfMissing), "{err:?}");
        assert_eq!(
            err.to_string(),
            "perf is not installed: apt-get install linux-perf"
        );
    }

    #[test]
    fn a_missing_py_spy_says_how_to_install_it() {
        let bin = Path::new("/nonexistent/framewut-venv/bin");
        let err = start(
            Profiler::PySpy,
            &[1],
            Some(bin),
            Caught::Running,
            &output(bin),
        )
        .unwrap_err();
        assert!(matches!(err, ProfileError::PySpyMissing { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "py-spy is not in the Python environment (/nonexistent/framewut-venv/bin): \
             run `framewut setup python`, which installs it"
        );
        let err = start(Profiler::PySpy, &[1], None, Caught::Running, &output(bin)).unwrap_err();
        assert!(
            err.to_string().contains("run `framewut setup python`"),
            "{err}"
        );
    }

    /// A recording dropped unfinished, as the lab's on an error or Ctrl-C,
    /// stops its profiler and leaves no data behind.
    #[test]
    fn dropping_a_recording_stops_the_profiler_and_removes_its_data() {
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let dir =
            std::env::temp_dir().join(format!("framewut-profile-drop-{}", std::process::id()));
        let recording = start(
            Profiler::Perf,
            &[sleeper.id()],
            None,
            Caught::Running,
            &output(&dir),
        )
        .unwrap();
        let perf = recording.runs[0].group.pid();
        let data = recording.runs[0].raw.clone();
        assert!(data.exists());
        drop(recording);
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert!(
            procfs::stat(perf as i32).is_none(),
            "perf ({perf}) still runs"
        );
        assert!(!data.exists(), "{} remains", data.display());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gone_processes_are_not_profiled() {
        let err = start(
            Profiler::Perf,
            &[u32::MAX - 1],
            None,
            Caught::Running,
            &output(Path::new("/nonexistent")),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "there is nothing to profile: none of PIDs {} is running",
                u32::MAX - 1
            )
        );
    }
}
