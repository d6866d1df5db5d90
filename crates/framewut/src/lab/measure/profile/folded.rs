//! Folded stacks: one line per distinct stack, its frames from the
//! outermost to the one that was running, separated by `;`, then a space
//! and the number of samples that caught it (`main;serve;parse 12`), the
//! text `perf` and py-spy recordings are both turned into.

use std::collections::{HashMap, HashSet};

use super::Frame;

/// The samples a folded text holds: the sum of its lines' counts.
pub fn samples(folded: &str) -> u64 {
    lines(folded).map(|(_, count)| count).sum()
}

/// The `n` frames that were running in the most samples (self time: the
/// last frame of each line), most first, ties by name. Each frame's total
/// share counts the samples whose stack holds it anywhere, once per stack
/// even where it recurses. Lines that are not `stack count` are passed over.
pub fn top_frames(folded: &str, n: usize) -> Vec<Frame> {
    let mut counts: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut total = 0;
    for (stack, count) in lines(folded) {
        total += count;
        let mut seen = HashSet::new();
        for frame in stack.split(';').filter(|frame| seen.insert(*frame)) {
            counts.entry(frame).or_default().1 += count;
        }
        if let Some(leaf) = stack.rsplit(';').next() {
            counts.entry(leaf).or_default().0 += count;
        }
    }
    if total == 0 {
        return Vec::new();
    }
    let mut frames: Vec<Frame> = counts
        .into_iter()
        .filter(|(_, (own, _))| *own > 0)
        .map(|(name, (own, under))| Frame {
            name: name.to_string(),
            self_samples: own,
            self_share: own as f64 / total as f64,
            total_share: under as f64 / total as f64,
        })
        .collect();
    frames.sort_by(|a, b| {
        b.self_samples
            .cmp(&a.self_samples)
            .then_with(|| a.name.cmp(&b.name))
    });
    frames.truncate(n);
    frames
}

/// py-spy's folded stacks with its process frames (`process 4242:"python
/// -m gunicorn ..."`) named without their PIDs, so the workers of one
/// server, alike but for the PID, fold into one stack instead of one tower
/// each in the flame graph.
pub fn without_pids(folded: &str) -> String {
    let mut out = String::with_capacity(folded.len());
    for line in folded.lines() {
        let frames: Vec<String> = line.split(';').map(frame_without_pid).collect();
        out.push_str(&frames.join(";"));
        out.push('\n');
    }
    out
}

fn frame_without_pid(frame: &str) -> String {
    let Some(rest) = frame.strip_prefix("process ") else {
        return frame.to_string();
    };
    match rest.split_once(':') {
        Some((pid, command)) if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => {
            format!("process {command}")
        }
        _ => frame.to_string(),
    }
}

/// The well-formed lines: the stack, and its count.
/// The folded stacks with the kernel's frames (`_[k]`) cut from the top of
/// each, so that a stack caught waiting ends in the code that waited (a
/// `recv`, a `clock_nanosleep`, an `epoll_wait`) instead of in the
/// scheduler every wait goes through. A stack of kernel frames alone is
/// kept whole.
pub fn waited_in(folded: &str) -> String {
    let mut out = String::with_capacity(folded.len());
    for (stack, count) in lines(folded) {
        let mut frames: Vec<&str> = stack.split(';').collect();
        while frames.len() > 1 && frames.last().is_some_and(|f| f.ends_with("_[k]")) {
            frames.pop();
        }
        if frames.iter().all(|f| f.ends_with("_[k]")) {
            frames = stack.split(';').collect();
        }
        out.push_str(&frames.join(";"));
        out.push_str(&format!(" {count}\n"));
    }
    out
}

fn lines(folded: &str) -> impl Iterator<Item = (&str, u64)> {
    folded.lines().filter_map(|line| {
        let (stack, count) = line.trim_end().rsplit_once(' ')?;
        let count = count.parse().ok()?;
        (!stack.is_empty()).then_some((stack, count))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_ends_in_the_code_that_waited() {
        let folded = "\
main;sleep;clock_nanosleep;do_nanosleep_[k];__schedule_[k] 3
main;serve;recv;tcp_recvmsg_[k];__schedule_[k] 2
worker_thread_[k];__schedule_[k] 1
";
        assert_eq!(
            waited_in(folded),
            "main;sleep;clock_nanosleep 3\nmain;serve;recv 2\nworker_thread_[k];__schedule_[k] 1\n"
        );
        let top = top_frames(&waited_in(folded), 5);
        assert_eq!(top[0].name, "clock_nanosleep");
        assert_eq!(top[0].self_samples, 3);
        assert_eq!(top[1].name, "recv");
    }

    const FOLDED: &str = "\
main;serve;parse 6
main;serve;parse;memchr 2
main;serve;write 3
main;idle 1
a line with no count
main;serve;render;render 4
";

    fn frame(name: &str, self_samples: u64, self_share: f64, total_share: f64) -> Frame {
        Frame {
            name: name.to_string(),
            self_samples,
            self_share,
            total_share,
        }
    }

    #[test]
    fn the_top_frames_are_the_leaves_with_the_most_samples() {
        assert_eq!(samples(FOLDED), 16);
        assert_eq!(
            top_frames(FOLDED, 3),
            [
                frame("parse", 6, 6.0 / 16.0, 8.0 / 16.0),
                frame("render", 4, 4.0 / 16.0, 4.0 / 16.0),
                frame("write", 3, 3.0 / 16.0, 3.0 / 16.0),
            ]
        );
    }

    #[test]
    fn frames_that_never_ran_themselves_are_not_listed() {
        let all = top_frames(FOLDED, 100);
        let names: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["parse", "render", "write", "memchr", "idle"]);
        assert!(all.iter().all(|f| f.total_share >= f.self_share));
    }

    #[test]
    fn ties_go_by_name_and_nothing_gives_nothing() {
        let tied = top_frames("x;b 2\nx;a 2\n", 2);
        assert_eq!(tied[0].name, "a");
        assert_eq!(tied[1].name, "b");
        assert_eq!(tied[0].total_share, 0.5);
        assert!(top_frames("", 5).is_empty());
        assert!(top_frames("garbage\n", 5).is_empty());
        assert_eq!(samples("garbage\n"), 0);
    }

    #[test]
    fn py_spy_process_frames_lose_their_pids() {
        let raw = "process 10:\"python -m gunicorn\";process 11:\"python -m gunicorn\";handle (sync.py:130) 5\n\
                   process 10:\"python -m gunicorn\";process 12:\"python -m gunicorn\";handle (sync.py:130) 7\n\
                   <module> (app.py:1);process_request (app.py:9) 1\n";
        let folded = without_pids(raw);
        assert_eq!(
            folded,
            "process \"python -m gunicorn\";process \"python -m gunicorn\";handle (sync.py:130) 5\n\
             process \"python -m gunicorn\";process \"python -m gunicorn\";handle (sync.py:130) 7\n\
             <module> (app.py:1);process_request (app.py:9) 1\n"
        );
        assert_eq!(top_frames(&folded, 1)[0].self_samples, 12);
    }
}
