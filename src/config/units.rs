//! Value syntaxes shared by every section: durations, bandwidths, byte sizes, addresses, networks,
//! address ranges and port ranges. Each parser returns a message an operator can act on; the loader
//! attaches file, line, column and key.
//!
//! | kind      | accepted                                                            | typed as            |
//! |-----------|---------------------------------------------------------------------|---------------------|
//! | duration  | a string for humantime: `"30s"`, `"15m"`, `"1h 30m"`, `"250ms"`     | `Duration`          |
//! | bandwidth | an integer in bit/s, or a string with an SI prefix: `"100M"`, `"1.5G"`, `"64k"`, optionally followed by `bit/s` or `bps` | `u64` bit/s |
//! | byte size | an integer in bytes, or a string: `"64MiB"`, `"10GB"`, `"512KiB"`, `"1TB"` | `u64` bytes    |
//! | endpoint  | `"192.0.2.1:1701"`, `"[2001:db8::1]:1701"`; a bare address means port 1701 | `SocketAddr`  |
//! | network   | `"192.0.2.0/24"` or one address (a /32 or /128); host bits must be zero | `IpNet`         |
//! | v4 range  | `"10.0.0.0/24"`, `"10.0.0.10-10.0.0.99"` or one address           | [`Ipv4Range`]       |
//! | ports     | an integer `443` or a string `"8000-8080"`                          | [`PortRange`]       |

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The UDP port L2TP uses when an endpoint names none (RFC 2661 §8.1).
pub const L2TP_PORT: u16 = 1701;

// ---------------------------------------------------------------------------------------------
// Durations

/// Parses a human duration such as `"30s"`, `"15m"`, `"1h 30m"` or `"250ms"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        format!("invalid duration {s:?}: {e} (write a number and a unit, e.g. \"30s\", \"15m\", \"250ms\")")
    })
}

/// serde helper: a duration field written as a human string.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration string such as \"30s\" or \"15m\"")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
            parse_duration(s).map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "durations are strings with a unit: write \"{v}s\" for {v} seconds"
            )))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            self.visit_i64(v as i64)
        }
    }
    d.deserialize_any(V)
}

/// serde helper: an optional duration (absent means "not set").
pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// Renders a duration the way the config file spells it, for messages.
pub fn show_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

// ---------------------------------------------------------------------------------------------
// Bandwidth

/// Parses a bandwidth in bit/s: `"100M"`, `"1.5G"`, `"64k"`, `"2500000"`, `"10 Mbit/s"`.
/// Prefixes are decimal SI (k = 1000). Byte units are refused so that a megabyte per second is never
/// mistaken for a megabit.
pub fn parse_bandwidth(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let mut body = t;
    for unit in ["bit/s", "bps", "b/s", "bit"] {
        if let Some(stripped) = body.strip_suffix(unit) {
            body = stripped.trim_end();
            break;
        }
    }
    if body.ends_with('B') || body.ends_with("B/s") {
        return Err(format!(
            "invalid bandwidth {s:?}: bandwidths are in bits per second, not bytes (e.g. \"100M\" = 100 Mbit/s)"
        ));
    }
    let (number, multiplier) = split_si(body);
    scaled_integer(number, multiplier).ok_or_else(|| {
        format!(
            "invalid bandwidth {s:?}: write bit/s as an integer or with an SI prefix, e.g. 100000000, \"100M\", \"1.5G\""
        )
    })
}

fn split_si(body: &str) -> (&str, u64) {
    let body = body.trim();
    let (number, suffix) = match body.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (body[..i].trim_end(), &body[i..]),
        None => (body, ""),
    };
    let multiplier = match suffix {
        "" => 1,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        _ => 0,
    };
    (number, multiplier)
}

/// `number` is decimal with an optional fraction; the result must be a whole number after scaling.
/// No floating point: "1.5" × 10^9 is computed on integers.
fn scaled_integer(number: &str, multiplier: u64) -> Option<u64> {
    if multiplier == 0 || number.is_empty() {
        return None;
    }
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int_value: u64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let mut total = int_value.checked_mul(multiplier)?;
    let mut scale = multiplier;
    for digit in frac_part.bytes() {
        if !scale.is_multiple_of(10) {
            // More fractional digits than the multiplier can absorb: not a whole number of units,
            // unless every remaining digit is zero.
            if digit != b'0' {
                return None;
            }
            continue;
        }
        scale /= 10;
        total = total.checked_add(u64::from(digit - b'0') * scale)?;
    }
    Some(total)
}

/// serde helper: a bandwidth in bit/s, written as an integer or an SI string.
pub fn bandwidth<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a bandwidth in bit/s: an integer, or a string such as \"100M\" or \"1G\"")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<u64, E> {
            parse_bandwidth(s).map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("a bandwidth must not be negative"))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
    }
    d.deserialize_any(V)
}

/// serde helper: an optional bandwidth.
pub fn opt_bandwidth<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    bandwidth(d).map(Some)
}

/// Renders bit/s with the largest SI prefix that divides it exactly, e.g. `100M`.
pub fn show_bandwidth(bps: u64) -> String {
    for (div, p) in [
        (1_000_000_000_000, "T"),
        (1_000_000_000, "G"),
        (1_000_000, "M"),
        (1_000, "k"),
    ] {
        if bps >= div && bps.is_multiple_of(div) {
            return format!("{}{p}bit/s", bps / div);
        }
    }
    format!("{bps}bit/s")
}

// ---------------------------------------------------------------------------------------------
// Byte sizes

/// Parses a byte size: an integer, or `"64MiB"`, `"10GB"`, `"1.5GB"`, `"512KiB"`.
/// `kB MB GB TB` are decimal, `KiB MiB GiB TiB` binary; a bare number is bytes.
pub fn parse_byte_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = (t[..split].trim_end(), &t[split..]);
    let multiplier: u64 = match unit {
        "" | "B" => 1,
        "k" | "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => 0,
    };
    if multiplier.is_power_of_two() && multiplier > 1 {
        // Binary units: allow fractions only when they are exact in bytes.
        return binary_scaled(number, multiplier).ok_or_else(|| byte_size_error(s));
    }
    scaled_integer(number, multiplier).ok_or_else(|| byte_size_error(s))
}

fn binary_scaled(number: &str, multiplier: u64) -> Option<u64> {
    match number.split_once('.') {
        None => number.parse::<u64>().ok()?.checked_mul(multiplier),
        Some((i, f)) => {
            // Exact rational arithmetic: value = (i·10^len(f) + f) · multiplier / 10^len(f).
            if f.is_empty() || f.len() > 12 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let denom = 10u128.pow(f.len() as u32);
            let i: u128 = if i.is_empty() { 0 } else { i.parse().ok()? };
            let f: u128 = f.parse().ok()?;
            let numer = (i * denom + f).checked_mul(u128::from(multiplier))?;
            if numer % denom != 0 {
                return None;
            }
            u64::try_from(numer / denom).ok()
        }
    }
}

fn byte_size_error(s: &str) -> String {
    format!(
        "invalid byte size {s:?}: write bytes as an integer or with a unit, e.g. 1048576, \"64MiB\", \"10GB\""
    )
}

/// serde helper: a byte size written as an integer or a string with a unit.
pub fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a byte size: an integer, or a string such as \"64MiB\" or \"10GB\"")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<u64, E> {
            parse_byte_size(s).map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("a byte size must not be negative"))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
    }
    d.deserialize_any(V)
}

/// serde helper: an optional byte size.
pub fn opt_byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    byte_size(d).map(Some)
}

// ---------------------------------------------------------------------------------------------
// Integers with bounds

/// serde helper: an integer that must lie in `MIN ..= MAX`, converted to `T`. Out-of-range values
/// (zero and negative limits included) get one uniform message naming the bounds.
pub fn ranged<'de, D, const MIN: i64, const MAX: i64, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let v = i64::deserialize(d).map_err(|e: D::Error| {
        let e = e.to_string();
        de::Error::custom(format!(
            "{}; expected an integer between {MIN} and {MAX}",
            e.trim_end()
        ))
    })?;
    check_range(v, MIN, MAX)
        .map_err(de::Error::custom)
        .and_then(|v| T::try_from(v).map_err(|_| de::Error::custom("integer out of range")))
}

/// serde helper: like [`ranged`] for an optional key.
pub fn opt_ranged<'de, D, const MIN: i64, const MAX: i64, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    ranged::<D, MIN, MAX, T>(d).map(Some)
}

/// The message for an integer outside its bounds, or the integer.
pub fn check_range(v: i64, min: i64, max: i64) -> Result<i64, String> {
    if v < min || v > max {
        let why = if v <= 0 && min >= 1 {
            if v < 0 {
                "must not be negative"
            } else {
                "must not be zero"
            }
        } else {
            "out of range"
        };
        if max == i64::MAX {
            Err(format!("{why}: expected at least {min}, got {v}"))
        } else {
            Err(format!("{why}: expected {min} to {max}, got {v}"))
        }
    } else {
        Ok(v)
    }
}

/// serde helper: an amount of money in integer minor units of the configured currency. Floating
/// point is refused; negative amounts are refused.
pub fn money<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an amount in integer minor units (e.g. 1999 for 19.99)")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            if v < 0 {
                Err(E::custom(format!("amounts must not be negative, got {v}")))
            } else {
                Ok(v)
            }
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("amount too large"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            Err(E::custom(format!(
                "amounts are integers in minor units of the currency, never fractions (got {v}); \
                 e.g. write 1999 for 19.99"
            )))
        }
    }
    d.deserialize_any(V)
}

/// serde helper: an optional amount of money.
pub fn opt_money<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    money(d).map(Some)
}

// ---------------------------------------------------------------------------------------------
// Addresses

/// A UDP endpoint; a bare address means the L2TP port 1701.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint(pub SocketAddr);

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(sa) = SocketAddr::from_str(t) {
            return Ok(Endpoint(sa));
        }
        if let Ok(ip) = IpAddr::from_str(t) {
            return Ok(Endpoint(SocketAddr::new(ip, L2TP_PORT)));
        }
        Err(format!(
            "invalid address {s:?}: expected an IP address with an optional port, e.g. \"192.0.2.1:1701\" or \"[2001:db8::1]:1701\" (host names are not resolved)"
        ))
    }
}

/// An IP network. A bare address is a host route (/32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network(pub IpNet);

impl FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(ip) = IpAddr::from_str(t) {
            return Ok(Network(IpNet::from(ip)));
        }
        let net = IpNet::from_str(t).map_err(|_| {
            format!("invalid network {s:?}: expected an address or CIDR, e.g. \"192.0.2.0/24\" or \"192.0.2.7\"")
        })?;
        if net.trunc() != net {
            return Err(format!(
                "network {s:?} has host bits set; did you mean \"{}\"?",
                net.trunc()
            ));
        }
        Ok(Network(net))
    }
}

/// An inclusive range of IPv4 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Range {
    /// First address in the range.
    pub first: Ipv4Addr,
    /// Last address in the range (inclusive).
    pub last: Ipv4Addr,
}

impl Ipv4Range {
    /// A range of one address.
    pub fn single(a: Ipv4Addr) -> Self {
        Self { first: a, last: a }
    }

    /// How many addresses the range holds (1 ..= 2^32).
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.last)) - u64::from(u32::from(self.first)) + 1
    }

    /// Never true: a range holds at least one address. Present for clippy's `len` convention.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `a` lies inside the range.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.first <= a && a <= self.last
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &Ipv4Range) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    /// The smallest set of CIDR blocks covering exactly this range (for kernel routes).
    pub fn subnets(&self) -> impl Iterator<Item = Ipv4Net> {
        ipnet::Ipv4Subnets::new(self.first, self.last, 0)
    }
}

impl fmt::Display for Ipv4Range {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl FromStr for Ipv4Range {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let bad = || {
            format!(
                "invalid IPv4 range {s:?}: expected a CIDR \"10.0.0.0/24\", a range \"10.0.0.10-10.0.0.99\" or one address"
            )
        };
        if let Some((a, b)) = t.split_once('-') {
            let first = Ipv4Addr::from_str(a.trim()).map_err(|_| bad())?;
            let last = Ipv4Addr::from_str(b.trim()).map_err(|_| bad())?;
            if first > last {
                return Err(format!(
                    "IPv4 range {s:?} runs backwards: {first} is after {last}"
                ));
            }
            return Ok(Ipv4Range { first, last });
        }
        if let Ok(a) = Ipv4Addr::from_str(t) {
            return Ok(Ipv4Range::single(a));
        }
        let net = Ipv4Net::from_str(t).map_err(|_| bad())?;
        if net.trunc() != net {
            return Err(format!(
                "network {s:?} has host bits set; did you mean \"{}\"?",
                net.trunc()
            ));
        }
        Ok(Ipv4Range {
            first: net.network(),
            last: net.broadcast(),
        })
    }
}

/// An inclusive range of TCP or UDP ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port (1 ..= 65535).
    pub first: u16,
    /// Last port, inclusive.
    pub last: u16,
}

impl PortRange {
    /// Whether `p` lies inside the range.
    pub fn contains(&self, p: u16) -> bool {
        self.first <= p && p <= self.last
    }

    /// Whether the two ranges share a port.
    pub fn overlaps(&self, other: &PortRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

fn parse_port(s: &str) -> Option<u16> {
    s.trim().parse::<u16>().ok().filter(|p| *p != 0)
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid port range {s:?}: expected a port 1-65535 or \"first-last\"");
        let (first, last) = match s.split_once('-') {
            Some((a, b)) => (
                parse_port(a).ok_or_else(bad)?,
                parse_port(b).ok_or_else(bad)?,
            ),
            None => {
                let p = parse_port(s).ok_or_else(bad)?;
                (p, p)
            }
        };
        if first > last {
            return Err(format!("port range {s:?} runs backwards"));
        }
        Ok(PortRange { first, last })
    }
}

/// A struct that can only be written as a string parsed by `FromStr`.
macro_rules! deserialize_from_str {
    ($t:ty, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$t, E> {
                        <$t>::from_str(s).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

deserialize_from_str!(Endpoint, "an address string such as \"192.0.2.1:1701\"");
deserialize_from_str!(Network, "a network string such as \"192.0.2.0/24\"");
deserialize_from_str!(Ipv4Range, "an IPv4 range string such as \"10.0.0.0/24\"");

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PortRange;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port (integer) or a port range string such as \"8000-8080\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<PortRange, E> {
                PortRange::from_str(s).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortRange, E> {
                match u16::try_from(v) {
                    Ok(p) if p != 0 => Ok(PortRange { first: p, last: p }),
                    _ => Err(E::custom(format!("port {v} is out of range 1-65535"))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortRange, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(-1))
            }
        }
        d.deserialize_any(V)
    }
}

/// serde helper: an IPv4 address with a clear message when it is IPv6 or garbage.
pub fn ipv4<'de, D: Deserializer<'de>>(d: D) -> Result<Ipv4Addr, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Ipv4Addr;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an IPv4 address string such as \"192.0.2.1\"")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Ipv4Addr, E> {
            Ipv4Addr::from_str(s.trim())
                .map_err(|_| E::custom(format!("invalid IPv4 address {s:?}")))
        }
    }
    d.deserialize_str(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidths() {
        assert_eq!(parse_bandwidth("100M"), Ok(100_000_000));
        assert_eq!(parse_bandwidth("1G"), Ok(1_000_000_000));
        assert_eq!(parse_bandwidth("1.5G"), Ok(1_500_000_000));
        assert_eq!(parse_bandwidth("64k"), Ok(64_000));
        assert_eq!(parse_bandwidth("64 kbit/s"), Ok(64_000));
        assert_eq!(parse_bandwidth("10 Mbps"), Ok(10_000_000));
        assert_eq!(parse_bandwidth("2500"), Ok(2500));
        assert_eq!(parse_bandwidth("0.5k"), Ok(500));
        assert!(parse_bandwidth("1.0005k").is_err());
        assert!(parse_bandwidth("100MB").unwrap_err().contains("not bytes"));
        assert!(parse_bandwidth("fast").is_err());
        assert!(parse_bandwidth("").is_err());
        assert!(parse_bandwidth("1X").is_err());
        assert!(parse_bandwidth("-1M").is_err());
        assert!(parse_bandwidth("99999999999T").is_err());
        assert_eq!(show_bandwidth(100_000_000), "100Mbit/s");
        assert_eq!(show_bandwidth(1_500_000), "1500kbit/s");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_byte_size("10GB"), Ok(10_000_000_000));
        assert_eq!(parse_byte_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_byte_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_byte_size("4096"), Ok(4096));
        assert_eq!(parse_byte_size("12 B"), Ok(12));
        assert!(parse_byte_size("1.3B").is_err());
        assert!(parse_byte_size("0.1KiB").is_err());
        assert!(parse_byte_size("10 parsecs").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("invalid duration")
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(check_range(5, 1, 10), Ok(5));
        assert_eq!(
            check_range(0, 1, 10).unwrap_err(),
            "must not be zero: expected 1 to 10, got 0"
        );
        assert_eq!(
            check_range(-3, 1, i64::MAX).unwrap_err(),
            "must not be negative: expected at least 1, got -3"
        );
        assert_eq!(
            check_range(11, 1, 10).unwrap_err(),
            "out of range: expected 1 to 10, got 11"
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(
            "127.0.0.1".parse::<Endpoint>().unwrap().0,
            "127.0.0.1:1701".parse().unwrap()
        );
        assert_eq!(
            "[::1]:99".parse::<Endpoint>().unwrap().0,
            "[::1]:99".parse().unwrap()
        );
        assert!("localhost:1701".parse::<Endpoint>().is_err());
        assert_eq!("10.0.0.1".parse::<Network>().unwrap().0.prefix_len(), 32);
        assert!(
            "10.0.0.1/8"
                .parse::<Network>()
                .unwrap_err()
                .contains("10.0.0.0/8")
        );
        let r: Ipv4Range = "10.0.0.0/30".parse().unwrap();
        assert_eq!(
            (r.first, r.last, r.len()),
            ("10.0.0.0".parse().unwrap(), "10.0.0.3".parse().unwrap(), 4)
        );
        let r: Ipv4Range = "10.0.0.5-10.0.0.9".parse().unwrap();
        assert_eq!(r.len(), 5);
        // Not aligned: 10.0.0.5/32, 10.0.0.6/31, 10.0.0.8/31.
        assert_eq!(r.subnets().count(), 3);
        assert!("10.0.0.9-10.0.0.5".parse::<Ipv4Range>().is_err());
        let all: Ipv4Range = "0.0.0.0/0".parse().unwrap();
        assert_eq!(all.len(), 1 << 32);
        assert_eq!(
            "8000-8080".parse::<PortRange>(),
            Ok(PortRange {
                first: 8000,
                last: 8080
            })
        );
        assert!("0".parse::<PortRange>().is_err());
        assert!("90-80".parse::<PortRange>().is_err());
    }
}
