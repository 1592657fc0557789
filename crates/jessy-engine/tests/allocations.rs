#![allow(unsafe_code)] // A global allocator is the only way to count allocations.
//! The Memory Pool's promise: in steady state, scoring a query allocates nothing.
//!
//! A counting global allocator wraps the system allocator; after warming a scratch up on the
//! same queries, routing them again must not allocate at all.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use jessy_engine::{Engine, QueryOptions, Scratch};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_scoring_does_not_allocate() {
    let engine = Engine::default_in_memory().unwrap();
    let registry = engine.registry();
    let options = QueryOptions::default();
    let queries = [
        "I'm so anxious about my exam tomorrow",
        "my code keeps crashing with a null pointer error",
        "how many teaspoons are in a tablespoon",
        "help me write a short story about a dragon who is lonely",
        "",
    ];
    let mut scratch = Scratch::default();
    for _ in 0..3 {
        for q in queries {
            let _ = engine.route(&registry, &mut scratch, q, &options);
        }
    }
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let mut routed = 0;
    for _ in 0..10 {
        for q in queries {
            if engine.route(&registry, &mut scratch, q, &options).is_ok() {
                routed += 1;
            }
        }
    }
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(routed, 40, "four valid queries routed ten times");
    assert_eq!(
        ALLOCATIONS.load(Ordering::SeqCst),
        0,
        "heap allocations on the scoring path"
    );
}
