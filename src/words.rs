//! Counts in messages: `1 name`, `2 names`.

/// `n` with the noun that fits it: `count(1, "name")` is `1 name`, `count(2, "name")` is
/// `2 names` (the plural adds an `s`).
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_every_other_count_plural() {
        assert_eq!(super::count(1u64, "name"), "1 name");
        assert_eq!(super::count(0u64, "epoch"), "0 epochs");
        assert_eq!(super::count(3u32, "line"), "3 lines");
    }
}
