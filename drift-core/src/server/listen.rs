//! The one parser of listen addresses, shared by `drift serve --listen`, the
//! C server config and `drift.Server(listen=...)`, so that each accepts the
//! same spellings and refuses the rest with the same reason.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::error::{Error, ErrorKind, Result};

/// Parses where a server listens: `"127.0.0.1:5500"`, `"[::1]:0"`,
/// `"0.0.0.0:5500"`, a name that resolves (`"localhost:5500"`, the first
/// address it resolves to), or a bare port (`"5500"`, on 127.0.0.1). Port 0
/// picks a free port. Surrounding white space is ignored.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] when `text` is none of these or does not
/// resolve.
pub fn parse_listen(text: &str) -> Result<SocketAddr> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    // Only a HOST:PORT is worth a resolver round trip.
    let resolved = text
        .rsplit_once(':')
        .filter(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        .and_then(|_| text.to_socket_addrs().ok())
        .and_then(|mut addrs| addrs.next());
    resolved.ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            format!(
                "listen address {text:?} is not HOST:PORT, [IPv6]:PORT or PORT, or does not resolve"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_documented_spelling() {
        let v4 = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        assert_eq!(parse_listen("127.0.0.1:5500").unwrap(), v4(5500));
        assert_eq!(parse_listen(" 5500 ").unwrap(), v4(5500));
        assert_eq!(parse_listen("0").unwrap(), v4(0));
        assert_eq!(
            parse_listen("[::1]:0").unwrap(),
            "[::1]:0".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            parse_listen("0.0.0.0:80").unwrap(),
            "0.0.0.0:80".parse::<SocketAddr>().unwrap()
        );
        let local = parse_listen("localhost:7").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 7, "{local}");
    }

    #[test]
    fn refuses_the_rest_with_a_reason() {
        for bad in [
            "",
            "nonsense",
            "127.0.0.1",
            "127.0.0.1:99999",
            ":80",
            "host:port",
            "[::1]",
        ] {
            let e = parse_listen(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
            assert!(e.to_string().contains("is not HOST:PORT"), "{bad:?}: {e}");
        }
    }
}
