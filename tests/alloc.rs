//! No heap allocation per step or per right-hand-side evaluation in the patient loop, shown
//! with a counting global allocator (counts are per thread, so parallel tests do not mix).

use cartkin::model::MinimalModel;
use cartkin::solve::run;
use cartkin::{MinimalInit, MinimalParams, MinimalSolver, Scenario, SolverConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations<R>(f: impl FnOnce() -> R) -> (u64, R) {
    let before = ALLOCS.with(|c| c.get());
    let r = f();
    (ALLOCS.with(|c| c.get()) - before, r)
}

#[test]
fn minimal_model_patient_loop_allocates_nothing() {
    let cfg = SolverConfig::default();
    let mut solver = MinimalSolver::new(&cfg);
    let mut out = vec![[0.0f64; 6]; 366];
    let m = MinimalModel { params: MinimalParams::nominal(), init: MinimalInit::default() };
    solver.solve(&m, &mut out).unwrap(); // warm-up
    let (n, stats) = allocations(|| solver.solve(&m, &mut out).unwrap());
    assert!(stats.accepted > 100, "{stats:?}");
    assert_eq!(n, 0, "allocations in a {}-step minimal-model solve", stats.accepted);
}

#[test]
fn reference_model_allocations_do_not_depend_on_the_number_of_steps() {
    // Per patient the driver allocates a few vectors (event log, dose days); per step and per
    // RHS evaluation nothing. Tighter tolerances take ~4x the steps with the same events.
    let sc = Scenario::nominal();
    let loose = SolverConfig::default();
    let tight = SolverConfig::with_rtol(1e-9).unwrap();
    let (a, sa) = allocations(|| run(&sc, &loose, &[], false, 0).unwrap());
    let (b, sb) = allocations(|| run(&sc, &tight, &[], false, 0).unwrap());
    assert!(sb.stats.accepted > 3 * sa.stats.accepted, "{:?} vs {:?}", sa.stats, sb.stats);
    assert_eq!(sa.events.len(), sb.events.len());
    assert_eq!(a, b, "allocations: {a} for {} steps, {b} for {} steps", sa.stats.accepted, sb.stats.accepted);
    assert!(a <= 8, "{a} allocations per patient");
}
