//! The reconcile task's timing on a fake clock: no pass before the first state, one per
//! resync interval after it, one on a kernel event; a subsystem that cannot run stops the
//! pass before the ones after it.

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::*;
use crate::api::Credentials;
use crate::clock::FakeClock;
use crate::config::L2Config;
use crate::subsystem::run_pass;
use crate::subsystem::PassError;

/// Tells the test about each pass it is part of.
struct Counting {
    kind: SubsystemKind,
    passes: mpsc::UnboundedSender<SubsystemKind>,
    fail: bool,
}

impl Subsystem for Counting {
    fn kind(&self) -> SubsystemKind {
        self.kind
    }

    fn reconcile<'a>(&'a mut self, _: &'a HostState, _: &'a mut Pass) -> BoxFuture<'a, Result<Report, PassError>> {
        let _ = self.passes.send(self.kind);
        let failure = self.fail.then(|| {
            let io = std::io::Error::other("simulated");
            let op = crate::l2::dataplane::Op::ListLinks;
            PassError::Observe(crate::l2::dataplane::DataplaneError::Failed { op, device: String::new(), source: io })
        });
        Box::pin(async move { failure.map_or_else(|| Ok(Report::new(self.kind)), Err) })
    }
}

type States = watch::Receiver<Option<Arc<HostState>>>;

fn task(
    clock: &FakeClock,
    subsystems: Vec<Box<dyn Subsystem>>,
) -> (ReconcileTask, watch::Sender<Option<Arc<HostState>>>, States) {
    let mut settings = AgentSettings::new("h".into(), L2Config::default());
    settings.resync_interval = Duration::from_secs(10);
    // Never called: the counting subsystems wire no port, so there is no status to send.
    let servers = vec!["http://127.0.0.1:9".parse().unwrap()];
    let api = Arc::new(ServerApi::new(servers, Credentials::NoAuth { project_id: "p".into() }).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let (tx, rx) = watch::channel(None);
    (ReconcileTask::new(&settings, api, clock, Arc::default(), subsystems), tx, rx)
}

/// Lets the task run until it waits again.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn passes_come_with_the_state_then_every_resync_interval() {
    let clock = FakeClock::new();
    let (passes_tx, mut passes) = mpsc::unbounded_channel();
    let counting = Counting { kind: SubsystemKind::Dhcp, passes: passes_tx, fail: false };
    let (task, states, rx) = task(&clock, vec![Box::new(counting)]);
    let events = Arc::new(Notify::new());
    let running = tokio::spawn(task.run(rx, Arc::clone(&events)));

    // No state yet: the resync ticks pass, and nothing is touched.
    settle().await;
    clock.advance(Duration::from_secs(30));
    settle().await;
    assert!(passes.try_recv().is_err(), "no pass before the first state");

    states.send_replace(Some(Arc::new(HostState::default())));
    settle().await;
    assert_eq!(passes.try_recv(), Ok(SubsystemKind::Dhcp));

    // Nine seconds on: not yet. Ten: the resync.
    clock.advance(Duration::from_secs(9));
    settle().await;
    assert!(passes.try_recv().is_err(), "no pass before the resync interval");
    clock.advance(Duration::from_secs(1));
    settle().await;
    assert_eq!(passes.try_recv(), Ok(SubsystemKind::Dhcp));

    // A kernel event: a pass after the 5 ms settling, without waiting for the resync.
    events.notify_one();
    settle().await;
    assert!(passes.try_recv().is_err(), "the burst settles first");
    clock.advance(Duration::from_millis(5));
    settle().await;
    assert_eq!(passes.try_recv(), Ok(SubsystemKind::Dhcp));
    assert!(clock.sleeps().contains(&Duration::from_secs(10)), "{:?}", clock.sleeps());

    drop(states);
    settle().await;
    assert!(running.is_finished(), "the task ends with its states");
}

#[tokio::test(flavor = "current_thread")]
async fn a_subsystem_that_cannot_run_stops_the_pass_before_the_next() {
    let (passes_tx, mut passes) = mpsc::unbounded_channel();
    let failing = Counting { kind: SubsystemKind::Firewall, passes: passes_tx.clone(), fail: true };
    let after = Counting { kind: SubsystemKind::L2, passes: passes_tx, fail: false };
    let mut subsystems: Vec<Box<dyn Subsystem>> = vec![Box::new(failing), Box::new(after)];
    let pass = run_pass(&mut subsystems, &HostState::default()).await;
    assert!(matches!(pass.error, Some(PassError::Observe(_))), "{pass:?}");
    assert_eq!(passes.try_recv(), Ok(SubsystemKind::Firewall));
    assert!(passes.try_recv().is_err(), "L2 does not run after a failed subsystem");
}

/// A subsystem that cannot converge one router.
struct Troubled;

impl Subsystem for Troubled {
    fn kind(&self) -> SubsystemKind {
        SubsystemKind::L3
    }

    fn reconcile<'a>(&'a mut self, _: &'a HostState, _: &'a mut Pass) -> BoxFuture<'a, Result<Report, PassError>> {
        let mut report = Report::new(SubsystemKind::L3);
        report.issue(Object::Router("r1".into()), "router r1: no gateway");
        Box::pin(async move { Ok(report) })
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_pass_issues_end_up_in_the_next_heartbeat_and_go_with_a_clean_pass() {
    let clock = FakeClock::new();
    let (mut task, _states, _rx) = task(&clock, vec![Box::new(Troubled)]);
    let mut settings = AgentSettings::new("h".into(), L2Config::default());
    settings.l3 = Some(crate::l3::L3Config::default());
    task.pass(&HostState::default(), false).await;

    let (l2, extras) = super::super::reports(&settings, &task.counts, false);
    assert!(l2.conditions.is_empty(), "a router's issue is the L3 agent's: {:?}", l2.conditions);
    let l3 = extras.iter().find(|r| r.agent_type == neutrino_agent_api::AGENT_TYPE_L3).unwrap();
    assert_eq!(l3.conditions.len(), 1);
    assert_eq!(l3.conditions[0].subsystem, "l3");
    assert_eq!(l3.conditions[0].object.id.as_deref(), Some("r1"));
    assert_eq!(l3.conditions[0].reason, "router r1: no gateway");

    // Healed: the next pass's report has none.
    task.subsystems = vec![];
    task.pass(&HostState::default(), false).await;
    let (_, extras) = super::super::reports(&settings, &task.counts, false);
    assert!(extras.iter().all(|r| r.conditions.is_empty()));
}

#[tokio::test(flavor = "current_thread")]
async fn a_pass_that_cannot_run_reports_why_as_a_host_condition() {
    let clock = FakeClock::new();
    let (passes_tx, _passes) = mpsc::unbounded_channel();
    let failing = Counting { kind: SubsystemKind::L2, passes: passes_tx, fail: true };
    let (mut task, _states, _rx) = task(&clock, vec![Box::new(failing)]);
    task.pass(&HostState::default(), false).await;
    let settings = AgentSettings::new("h".into(), L2Config::default());
    let (l2, _) = super::super::reports(&settings, &task.counts, false);
    assert_eq!(l2.conditions.len(), 1, "{:?}", l2.conditions);
    assert_eq!(l2.conditions[0].object.kind, "host");
    assert!(l2.conditions[0].reason.starts_with("cannot read the host's network devices"), "{:?}", l2.conditions);
}

#[test]
fn a_pass_logs_where_its_time_went() {
    let pass = Pass {
        durations: vec![
            (SubsystemKind::Firewall, Duration::from_millis(40)),
            (SubsystemKind::L2, Duration::from_micros(12_600)),
        ],
        nft_apply: Some(Duration::from_millis(31)),
        ..Pass::default()
    };
    assert_eq!(pass_timings(&pass), "firewall=40ms l2=12ms nft=31ms");
    assert_eq!(pass_timings(&Pass::default()), "");
}

/// Tells the test whether each pass was told the kernel was quiet.
struct Quietness(mpsc::UnboundedSender<bool>);

impl Subsystem for Quietness {
    fn kind(&self) -> SubsystemKind {
        SubsystemKind::L2
    }

    fn reconcile<'a>(&'a mut self, _: &'a HostState, pass: &'a mut Pass) -> BoxFuture<'a, Result<Report, PassError>> {
        let _ = self.0.send(pass.kernel_quiet);
        Box::pin(async move { Ok(Report::new(SubsystemKind::L2)) })
    }
}

#[tokio::test(flavor = "current_thread")]
async fn only_a_new_state_makes_a_quiet_pass_and_a_full_one_comes_every_resync_interval_regardless() {
    let clock = FakeClock::new();
    let (quiet_tx, mut quiet) = mpsc::unbounded_channel();
    let (task, states, rx) = task(&clock, vec![Box::new(Quietness(quiet_tx))]);
    let events = Arc::new(Notify::new());
    let running = tokio::spawn(task.run(rx, Arc::clone(&events)));
    let mut revision = 0;
    let mut new_state = || {
        revision += 1;
        states.send_replace(Some(Arc::new(HostState { revision, ..HostState::default() })));
    };

    new_state();
    settle().await;
    assert_eq!(quiet.try_recv(), Ok(false), "the first pass reads everything");
    new_state();
    settle().await;
    assert_eq!(quiet.try_recv(), Ok(true), "a new state alone");
    events.notify_one();
    settle().await;
    clock.advance(Duration::from_millis(5));
    settle().await;
    assert_eq!(quiet.try_recv(), Ok(false), "a link event");

    // A new state every 3 s: quiet passes, but never more than the resync interval apart
    // from a full one.
    let mut seen = Vec::new();
    for _ in 0..7 {
        clock.advance(Duration::from_secs(3));
        new_state();
        settle().await;
        while let Ok(q) = quiet.try_recv() {
            seen.push(q);
        }
    }
    assert_eq!(seen, vec![true, true, true, false, true, true, true], "{seen:?}");
    drop(states);
    settle().await;
    assert!(running.is_finished());
}
