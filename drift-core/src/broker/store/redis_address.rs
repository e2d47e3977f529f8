//! Where a Redis URL points, for messages and log lines: `HOST:PORT[/DB]`,
//! without scheme, credentials or options. Outside the `redis` feature, so
//! that a server built without the store can still name it in a refusal.

/// `HOST:PORT[/DB]` of `url`, never its password.
pub(crate) fn redis_address(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['?', '#']).next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::redis_address;

    #[test]
    fn the_address_in_messages_has_no_password() {
        assert_eq!(
            redis_address("redis://:s3cret@10.0.0.1:6380/2"),
            "10.0.0.1:6380/2"
        );
        assert_eq!(redis_address("rediss://user:pw@h:1"), "h:1");
        assert_eq!(redis_address("redis://h:1?protocol=resp3"), "h:1");
    }
}
