//! IPv4 blocks: parsing, containment, and a block minus its exceptions as a list of
//! disjoint blocks (how an `ipBlock` with `except` becomes plain iptables matches).

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 block, its host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

/// A block that is not `a.b.c.d/n` with n ≤ 32.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an IPv4 CIDR block (a.b.c.d/n)")]
pub struct CidrError(pub String);

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl Cidr {
    /// One address.
    pub fn host(address: Ipv4Addr) -> Self {
        Self {
            base: address.into(),
            prefix: 32,
        }
    }

    /// Parses `a.b.c.d/n`; host bits are cleared as Kubernetes does.
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        let bad = || CidrError(text.to_owned());
        let (address, prefix) = text.split_once('/').ok_or_else(bad)?;
        let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Self {
            base: u32::from(address) & mask(prefix),
            prefix,
        })
    }

    /// Whether `address` is inside the block.
    pub fn contains(self, address: Ipv4Addr) -> bool {
        u32::from(address) & mask(self.prefix) == self.base
    }

    fn covers(self, other: Self) -> bool {
        self.prefix <= other.prefix && other.base & mask(self.prefix) == self.base
    }

    fn overlaps(self, other: Self) -> bool {
        self.covers(other) || other.covers(self)
    }

    fn halves(self) -> [Self; 2] {
        let prefix = self.prefix + 1;
        let bit = 1u32 << (32 - u32::from(prefix));
        [
            Self {
                base: self.base,
                prefix,
            },
            Self {
                base: self.base | bit,
                prefix,
            },
        ]
    }

    /// The block without the `except` blocks: the fewest disjoint blocks covering exactly
    /// the addresses of `self` outside every exception.
    pub fn minus(self, except: &[Self]) -> Vec<Self> {
        if except.iter().any(|e| e.covers(self)) {
            return Vec::new();
        }
        if !except.iter().any(|e| e.overlaps(self)) {
            return vec![self];
        }
        // Some exception lies strictly inside: split and look at each half.
        self.halves()
            .into_iter()
            .flat_map(|half| half.minus(except))
            .collect()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        Cidr::parse(text).expect("valid block")
    }

    fn strings(blocks: &[Cidr]) -> Vec<String> {
        blocks.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn parsing_clears_host_bits_and_refuses_nonsense() {
        assert_eq!(cidr("10.1.2.3/16").to_string(), "10.1.0.0/16");
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        for bad in ["10.0.0.0", "10.0.0.0/33", "fd00::/8", "10.0.0/8", "x/1"] {
            assert!(Cidr::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn containment_follows_the_prefix() {
        let block = cidr("10.244.0.0/24");
        assert!(block.contains(Ipv4Addr::new(10, 244, 0, 9)));
        assert!(!block.contains(Ipv4Addr::new(10, 244, 1, 9)));
        assert!(cidr("0.0.0.0/0").contains(Ipv4Addr::new(192, 0, 2, 1)));
    }

    #[test]
    fn a_block_minus_its_exceptions_covers_exactly_the_rest() {
        let left = cidr("10.0.0.0/8").minus(&[cidr("10.1.0.0/16")]);
        // Every address of 10/8 outside 10.1/16 is covered once; none inside it is.
        for probe in [
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 2, 0, 1),
            Ipv4Addr::new(10, 255, 255, 255),
        ] {
            assert_eq!(
                left.iter().filter(|b| b.contains(probe)).count(),
                1,
                "{probe}"
            );
        }
        assert!(!left.iter().any(|b| b.contains(Ipv4Addr::new(10, 1, 7, 7))));
        assert_eq!(left.len(), 8, "{:?}", strings(&left));
    }

    #[test]
    fn exceptions_outside_or_covering_the_block_are_handled() {
        let block = cidr("192.168.0.0/24");
        assert_eq!(
            strings(&block.minus(&[cidr("10.0.0.0/8")])),
            ["192.168.0.0/24"]
        );
        assert!(block.minus(&[cidr("192.168.0.0/16")]).is_empty());
        assert_eq!(
            strings(&block.minus(&[cidr("192.168.0.0/25")])),
            ["192.168.0.128/25"]
        );
    }
}
