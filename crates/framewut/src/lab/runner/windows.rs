//! A load's measured windows on a started stack: the plan's warm-up,
//! windows and drain run with the sampler reading the stack and both CPU
//! sets at each boundary, one trial a window; a probe apart from the
//! trials (a service probe, an open-loop calibration); and the wait, after
//! a phase, for the stack to finish what it was left.

use super::*;

impl Lab {
    /// Runs `plan`: its warm-up, then its measured windows back to back,
    /// then its drain, calling `boundary(k)` as window `k` opens (from 0)
    /// and `boundary(windows)` as the last one closes, each on time
    /// whatever the load is doing (to measure the server over the same
    /// windows). `label(k)` names window `k` in the progress line. A load
    /// interrupted before it measured anything halts the cell.
    pub(super) fn run_load(
        &self,
        plan: &LoadPlan,
        progress: &Progress,
        label: &(dyn Fn(u32) -> String + Sync),
        mut boundary: impl FnMut(u32) + Send,
    ) -> Result<Vec<LoadReport>, Halt> {
        progress.phase("warming up");
        let window = match plan.stop {
            Stop::After(d) => d,
            Stop::Requests(_) => Duration::ZERO,
        };
        let windows = plan.windows;
        let (reports, reached) = std::thread::scope(|scope| {
            let warmup = plan.warmup;
            let cancel = self.cancel;
            let boundary = &mut boundary;
            let timer = scope.spawn(move || {
                let start = Instant::now();
                for k in 0..=windows {
                    let at = start + warmup + window * k;
                    while Instant::now() < at && !cancel.load(Ordering::SeqCst) {
                        std::thread::sleep(
                            Duration::from_millis(5)
                                .min(at.saturating_duration_since(Instant::now())),
                        );
                    }
                    if cancel.load(Ordering::SeqCst) {
                        return k;
                    }
                    boundary(k);
                    if k < windows {
                        progress.phase(&label(k));
                    }
                }
                windows + 1
            });
            let reports = framewut_load::run_windows(plan, self.cancel);
            (reports, timer.join().expect("the window timer"))
        });
        // A load cut short closes its windows now.
        for k in reached..=windows {
            boundary(k);
        }
        let reports = reports?;
        if reports
            .first()
            .is_none_or(|r| r.cancelled && r.requests == 0)
        {
            return Err(Halt::Interrupted(format!(
                "stopped by a signal before the {} measured anything",
                label(0)
            )));
        }
        Ok(reports)
    }

    /// A closed-loop load of `plan`'s requests apart from the trials (1 s
    /// after a 1 s warm-up), then its drain and the wait for the stack to
    /// be idle, recorded in the cell's settling as after `phase`: a
    /// custom scenario's service probe, an open-loop cell's calibration,
    /// kept where `keep` says even when a signal cut it short.
    pub(super) fn probe_apart(
        &self,
        (plan, phase, sampler, has_upstream): (&LoadPlan, Phase, &Sampler, bool),
        spec: &CellSpec,
        progress: &Progress,
        result: &mut CellResult,
        keep: fn(&mut CellResult) -> &mut Option<Trial>,
    ) -> Result<(), Halt> {
        let what = match phase {
            Phase::Service => "service probe",
            Phase::Calibration | Phase::Start => "calibration probe",
        };
        let mut probe = plan.clone();
        probe.pacing = Pacing::Closed;
        probe.warmup = PROBE_WARMUP;
        probe.stop = Stop::After(PROBE);
        probe.drain = Some(spec.load.timeout);
        let (mut windows, drain) = self.windowed_load(
            &probe,
            sampler,
            has_upstream,
            spec,
            progress,
            &|_| what.to_string(),
            &mut |_| {},
        )?;
        let measured = windows.pop().expect("one window");
        let cancelled = measured.load.cancelled;
        *keep(result) = Some(measured);
        if cancelled {
            return Err(Halt::Interrupted(format!(
                "stopped by a signal during the {what}"
            )));
        }
        progress.phase("letting it finish the probe's requests");
        let rest = self.settle(sampler, phase, drain, spec.load.timeout);
        self.note_unsettled(&rest, result);
        result.settling.push(rest);
        Ok(())
    }

    /// Runs a load of `plan` (its warm-up, its measured windows, its
    /// drain) while the sampler measures the parts and both CPU sets over
    /// each window: one trial a window, and the drain when there was one.
    /// `hook(k)` is called at each boundary after the sampler's reading.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn windowed_load(
        &self,
        plan: &LoadPlan,
        sampler: &Sampler,
        has_upstream: bool,
        spec: &CellSpec,
        progress: &Progress,
        label: &(dyn Fn(u32) -> String + Sync),
        hook: &mut (dyn FnMut(u32) + Send),
    ) -> Result<(Vec<Trial>, Option<DrainReport>), Halt> {
        let ends = std::sync::Mutex::new(Vec::new());
        let windows = plan.windows;
        let reports = self.run_load(plan, progress, label, |k| {
            match k {
                0 => sampler.begin(),
                k if k == windows => ends.lock().expect("window ends").push(sampler.end()),
                _ => ends.lock().expect("window ends").push(sampler.split()),
            }
            hook(k);
        })?;
        let drain = reports.last().and_then(|r| r.drain);
        let trials = reports
            .iter()
            .zip(ends.into_inner().expect("window ends"))
            .map(|(report, end)| self.trial(plan, report, end, has_upstream, spec))
            .collect();
        Ok((trials, drain))
    }

    /// One window's trial: what the load measured in it, and what the
    /// sampler measured over it.
    pub(super) fn trial(
        &self,
        plan: &LoadPlan,
        report: &LoadReport,
        end: WindowEnd,
        has_upstream: bool,
        spec: &CellSpec,
    ) -> Trial {
        let mut used = end.parts.into_iter();
        let server = used.next().expect("the stack is always measured");
        let upstream = if has_upstream { used.next() } else { None };
        let database = used.next();
        let cores = spec
            .load
            .threads
            .min(self.placement.load_cpus.count())
            .max(1) as f64;
        let elapsed = report.elapsed.as_secs_f64();
        let generator_cpu = report.cpu.total().as_secs_f64();
        let busy = if elapsed > 0.0 {
            generator_cpu / (elapsed * cores)
        } else {
            0.0
        };
        let on_server = server.cpu_s
            + upstream.as_ref().map_or(0.0, |u| u.cpu_s)
            + database.as_ref().map_or(0.0, |d| d.cpu_s);
        let cpus = end.stat.map(|(before, after, window)| {
            let usage = |cpus: &CpuSet, measured: f64| {
                CpuSetUsage::between(&before, &after, window, cpus, measured, procfs::tick())
            };
            CpuAccounting {
                server: usage(&self.placement.server_cpus, on_server),
                generator: usage(&self.placement.load_cpus, generator_cpu),
            }
        });
        Trial {
            process: 1,
            load: Summary::of(plan, report),
            server,
            generator_busy: busy,
            generator_saturated: busy > SATURATED,
            cpus,
            wakeups: end.wakeups,
            upstream,
            database,
        }
    }

    /// Lets the stack finish what a phase left it: after the phase's
    /// drain (its record, when it had one), waits up to `limit` for its
    /// CPU to be idle for a turn.
    pub(super) fn settle(
        &self,
        sampler: &Sampler,
        after: Phase,
        drain: Option<DrainReport>,
        limit: Duration,
    ) -> Settling {
        let quiet = phases::wait_quiet(|| sampler.stack_cpu(), limit, || self.cancelled());
        Settling {
            after,
            drain: drain.map(Drained::from),
            quiet_after_s: quiet.waited.as_secs_f64(),
            quiet: quiet.quiet,
            busy_pct: 100.0 * quiet.busy,
        }
    }

    /// Warns when a stack was still busy, or still had requests to
    /// answer, as the next phase began on it.
    pub(super) fn note_unsettled(&self, rest: &Settling, result: &mut CellResult) {
        let what = match rest.after {
            Phase::Start => "after it started answering",
            Phase::Calibration => "after the calibration probe",
            Phase::Service => "after the service probe",
        };
        if let Some(d) = rest.drain.filter(|d| d.left > 0) {
            result.warnings.push(format!(
                "{} requests the {} probe sent were still unanswered {:.1} s after it ended: the trials may have measured the stack working on them",
                d.left,
                if rest.after == Phase::Service { "service" } else { "calibration" },
                d.elapsed_s
            ));
        }
        if !rest.quiet && !self.cancelled() {
            result.warnings.push(format!(
                "the stack's CPU was still {:.0}% busy {:.1} s {what}, with no load: what follows measured it doing that too",
                rest.busy_pct, rest.quiet_after_s
            ));
        }
    }
}
