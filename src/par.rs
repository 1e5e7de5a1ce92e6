//! Independent work spread over every core, with results in item order,
//! so that nothing built from them depends on thread timing.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` over every item, on as many threads as there are cores (and items):
/// the results in item order, or the error of the first item (in item
/// order) that failed. Every item is run; threads take the next item as
/// they finish one, so uneven items (file sizes) still share the cores.
pub fn try_map<T, R, E>(items: &[T], f: impl Fn(&T) -> Result<R, E> + Sync) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
{
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len())
        .max(1);
    // One worker (one core, or one item: a lone directory of a deep
    // chain) runs here: a thread would cost more than it shares.
    if workers == 1 {
        // Every item is run, as on threads; then the first error wins.
        let all: Vec<Result<R, E>> = items.iter().map(&f).collect();
        return all.into_iter().collect();
    }
    let done: Vec<Vec<(usize, Result<R, E>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(k) else {
                            return mine;
                        };
                        mine.push((k, f(item)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut slots: Vec<Option<Result<R, E>>> = (0..items.len()).map(|_| None).collect();
    for (k, r) in done.into_iter().flatten() {
        slots[k] = Some(r);
    }
    // Every index was taken by exactly one thread, so every slot is full.
    slots.into_iter().flatten().collect()
}

/// [`try_map`] for work that cannot fail.
pub fn map<T, R>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    match try_map(items, |x| Ok::<R, std::convert::Infallible>(f(x))) {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_item_order_and_the_first_error_wins() {
        let items: Vec<u64> = (0..1000).collect();
        let out: Result<Vec<u64>, u64> = try_map(&items, |&x| Ok(x * 2));
        assert_eq!(
            out.unwrap(),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        let failing: Result<Vec<u64>, u64> =
            try_map(&items, |&x| if x % 300 == 299 { Err(x) } else { Ok(x) });
        assert_eq!(failing, Err(299));
        let none: Result<Vec<u64>, u64> = try_map(&[], |&x: &u64| Ok(x));
        assert_eq!(none, Ok(vec![]));
    }
}
