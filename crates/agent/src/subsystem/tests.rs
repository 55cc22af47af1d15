//! When a pass may skip a subsystem: a quiet kernel, the inputs of its last clean pass, and
//! nothing plugged earlier in the pass.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::dhcp::fake::FakeDhcp;
use crate::dhcp::DhcpConfig;

/// Counts its runs; its inputs are the host state's revision; it may change something or
/// find an issue.
struct Probe {
    kind: SubsystemKind,
    runs: Arc<AtomicUsize>,
    applies: bool,
    troubled: bool,
}

impl Probe {
    fn new(kind: SubsystemKind) -> (Self, Arc<AtomicUsize>) {
        let runs = Arc::new(AtomicUsize::new(0));
        (Probe { kind, runs: runs.clone(), applies: false, troubled: false }, runs)
    }
}

impl Subsystem for Probe {
    fn kind(&self) -> SubsystemKind {
        self.kind
    }

    fn reconcile<'a>(&'a mut self, _: &'a HostState, _: &'a mut Pass) -> BoxFuture<'a, Result<Report, PassError>> {
        self.runs.fetch_add(1, Ordering::Relaxed);
        let mut report = Report::new(self.kind);
        if self.applies {
            report.applied.push("plugged a tap".to_string());
        }
        if self.troubled {
            report.issue(crate::report::Object::Host, "cannot".to_string());
        }
        Box::pin(async move { Ok(report) })
    }

    fn quiet_inputs(&self, state: &HostState, _: &Pass) -> Option<Vec<u8>> {
        Some(state.revision.to_be_bytes().to_vec())
    }
}

fn state(revision: u64) -> HostState {
    HostState { revision, ..HostState::default() }
}

#[tokio::test]
async fn a_quiet_pass_skips_a_subsystem_whose_inputs_are_those_of_its_last_clean_pass() {
    let (probe, runs) = Probe::new(SubsystemKind::L3);
    let mut subsystems: Vec<Box<dyn Subsystem>> = vec![Box::new(probe)];
    let mut clean = CleanInputs::default();

    run_pass_after(&mut subsystems, &state(1), true, &mut clean).await;
    assert_eq!(runs.load(Ordering::Relaxed), 1, "nothing to trust yet");
    let skipped = run_pass_after(&mut subsystems, &state(1), true, &mut clean).await;
    assert_eq!(runs.load(Ordering::Relaxed), 1, "same inputs, quiet kernel: skipped");
    assert_eq!(skipped.report(SubsystemKind::L3), Some(&Report::new(SubsystemKind::L3)));
    run_pass_after(&mut subsystems, &state(1), false, &mut clean).await;
    assert_eq!(runs.load(Ordering::Relaxed), 2, "a link event or a resync: runs");
    run_pass_after(&mut subsystems, &state(2), true, &mut clean).await;
    assert_eq!(runs.load(Ordering::Relaxed), 3, "new inputs: runs");
}

#[tokio::test]
async fn a_pass_with_changes_or_issues_is_not_trusted_and_a_plug_before_wakes_the_rest() {
    let (mut probe, runs) = Probe::new(SubsystemKind::L3);
    probe.troubled = true;
    let mut subsystems: Vec<Box<dyn Subsystem>> = vec![Box::new(probe)];
    let mut clean = CleanInputs::default();
    run_pass_after(&mut subsystems, &state(1), false, &mut clean).await;
    run_pass_after(&mut subsystems, &state(1), true, &mut clean).await;
    assert_eq!(runs.load(Ordering::Relaxed), 2, "an issue is looked at again every pass");

    let (mut dhcp, dhcp_runs) = Probe::new(SubsystemKind::Dhcp);
    dhcp.applies = true;
    let (l3, l3_runs) = Probe::new(SubsystemKind::L3);
    let mut subsystems: Vec<Box<dyn Subsystem>> = vec![Box::new(dhcp), Box::new(l3)];
    let mut clean = CleanInputs::default();
    run_pass_after(&mut subsystems, &state(1), false, &mut clean).await;
    run_pass_after(&mut subsystems, &state(1), true, &mut clean).await;
    assert_eq!(dhcp_runs.load(Ordering::Relaxed), 2, "a pass that changed something is checked again");
    assert_eq!(l3_runs.load(Ordering::Relaxed), 2, "something plugged earlier in the pass is a kernel change");
}

#[tokio::test]
async fn a_skipped_dhcp_pass_still_says_which_namespaces_serve_metadata() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = DhcpConfig { state_dir: tmp.path().to_owned(), ..DhcpConfig::default() };
    let dhcp = crate::dhcp::DhcpReconciler::with_system(cfg, FakeDhcp::new());
    let mut subsystems: Vec<Box<dyn Subsystem>> = vec![Box::new(dhcp)];
    let state = HostState { dhcp: vec![crate::dhcp::dnsmasq::tests::dual_stack()], ..HostState::default() };
    let mut clean = CleanInputs::default();
    let first = run_pass_after(&mut subsystems, &state, false, &mut clean).await;
    assert!(!first.reports[0].applied.is_empty(), "the first pass wires the namespace");
    let checked = run_pass_after(&mut subsystems, &state, true, &mut clean).await;
    assert!(checked.reports[0].applied.is_empty(), "{:?}", checked.reports[0]);
    let skipped = run_pass_after(&mut subsystems, &state, true, &mut clean).await;
    assert_eq!(skipped.dhcp_metadata, first.dhcp_metadata);
    assert_eq!(skipped.dhcp_metadata.as_ref().map(BTreeSet::len), Some(1));
}
