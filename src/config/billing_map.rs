//! From the validated configuration to the billing engine's inputs: [`Tariffs`] and
//! [`Contracts`] for [`crate::engine::invoice`], and where the daemon's ledger lives.
//!
//! Owns: the one mapping between the config's billing schema ([`BillingConfig`], lines'
//! `cost_per_month` and `private_account`, subscribers' [`Contract`]s) and the engine's. Must not
//! touch: billing rules (the engine's), files, the clock.
//!
//! # How the two schemas meet
//!
//! | config                                             | engine                                          |
//! |----------------------------------------------------|-------------------------------------------------|
//! | `billing.currency`, `minor_digits`                 | [`Tariffs::currency`], `minor_unit_digits`      |
//! | `billing.tariff.tunnel_hour`, `line_month`         | [`Tariffs::tunnel_hour`], `line_month`          |
//! | `[[lac.lines]] cost_per_month` (resolved)          | [`Tariffs::line_month_by_line`], every line     |
//! | `[[lac.lines]] private_account` set                | [`Tariffs::private_lines`]                      |
//! | `consolidation_fee = { per, amount }`              | [`ConsolidationTariff`]: `usage` = `amount` per started hour, `per_period` = 0 |
//! | `supplementary_fee` (tariff default)               | `contract_fees["tariff"]`                       |
//! | `[[billing.accounts]] supplementary_fee`           | `contract_fees["account:ACCOUNT"]`              |
//! | `[[billing.plans]]`                                | [`Tariffs::plans`] by name                      |
//! | a contract without `plan`                          | the plan [`NO_PLAN`] (nothing to pay)           |
//! | `contract.account` (absent: the subscriber's name) | [`SubscriberContract::account`]                 |
//! | `contract.supplementary = true`                    | `supplementary`: its account's fee tariff name  |
//!
//! Meanings agree: amounts are integer minor units; time and volume are rated per started unit of
//! a line's total (minute, hour; 10^6 and 10^9 bytes, both directions); the consolidation fee is
//! per subscriber of the service and per started tunnel-hour (or line-hour) of its use; a metered
//! supplementary fee meters the account's use of its private lines. `billing.period_offset` is
//! applied to the period with [`crate::engine::invoice::BillingPeriod::at_offset`].
//!
//! # Which subscribers get contracts
//!
//! Ranges (`[[subscriber_range]]`) are never materialised: [`contracts_for`] gives a contract to
//! every subscriber listed by name (their flat fees are owed whether or not they connected) and
//! to every range member it is handed, which the invoice takes from the ledger: the members with
//! usage in the period. [`ranges_missing_fixed_fees`] names the ranges whose silent members would
//! owe something, so the CLI can say so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::{
    BillingConfig, Config, ConsolidationBasis, Contract, ContractFee, EnvLookup, LacConfig,
    MeterUnit, SubscriberRange, SubscriberRef, TimeUnit, VolumeUnit,
};
use crate::engine::invoice::{Contracts, Invoice, SubscriberContract};
use crate::engine::tariff::{
    self, ConsolidationTariff, ContractFeeTariff, PlanTariff, Rate, Tariffs, Unit,
};

/// Name of the engine plan given to contracts that name no plan: no fee of any kind. Chosen so
/// that it cannot be mistaken for a configured plan; should a configured plan carry this very
/// name, [`no_plan_name`] adds primes until it is unique.
pub const NO_PLAN: &str = "(no plan)";

/// Name of the engine contract-fee tariff built from `billing.tariff.supplementary_fee`.
pub const TARIFF_FEE: &str = "tariff";

/// Name of the engine contract-fee tariff built from an account's own `supplementary_fee`.
pub fn account_fee_name(account: &str) -> String {
    format!("account:{account}")
}

/// The name [`tariffs`] gives the no-fee plan in this configuration.
pub fn no_plan_name(billing: &BillingConfig) -> String {
    let mut name = NO_PLAN.to_owned();
    while billing.plan_by_name(&name).is_some() {
        name.push('\'');
    }
    name
}

/// The engine unit of a config time unit.
pub fn time_unit(u: TimeUnit) -> Unit {
    match u {
        TimeUnit::Minute => Unit::Minute,
        TimeUnit::Hour => Unit::Hour,
    }
}

/// The engine unit of a config volume unit (both decimal).
pub fn volume_unit(u: VolumeUnit) -> Unit {
    match u {
        VolumeUnit::Megabyte => Unit::Megabyte,
        VolumeUnit::Gigabyte => Unit::Gigabyte,
    }
}

/// The engine unit of a config meter unit.
pub fn meter_unit(u: MeterUnit) -> Unit {
    match u {
        MeterUnit::Minute => Unit::Minute,
        MeterUnit::Hour => Unit::Hour,
        MeterUnit::Megabyte => Unit::Megabyte,
        MeterUnit::Gigabyte => Unit::Gigabyte,
    }
}

/// The engine's consolidation basis.
pub fn consolidation_basis(b: ConsolidationBasis) -> tariff::ConsolidationBasis {
    match b {
        ConsolidationBasis::Tunnel => tariff::ConsolidationBasis::Tunnels,
        ConsolidationBasis::Line => tariff::ConsolidationBasis::Lines,
    }
}

/// A config contract fee as an engine contract-fee tariff: fixed, or metered without a fixed
/// part.
pub fn contract_fee(fee: ContractFee) -> ContractFeeTariff {
    match fee {
        ContractFee::Fixed(amount) => ContractFeeTariff {
            fixed_per_period: amount,
            metered: None,
        },
        ContractFee::Metered { amount, unit } => ContractFeeTariff {
            fixed_per_period: 0,
            metered: Some(Rate {
                unit: meter_unit(unit),
                price: amount,
            }),
        },
    }
}

/// Every price of `[billing]`, with the lines' monthly costs and private lines from `[lac]`.
pub fn tariffs(billing: &BillingConfig, lac: &LacConfig) -> Tariffs {
    let t = &billing.tariff;
    let mut contract_fees =
        BTreeMap::from([(TARIFF_FEE.to_owned(), contract_fee(t.supplementary_fee))]);
    for a in &billing.accounts {
        if let Some(fee) = a.supplementary_fee {
            contract_fees.insert(account_fee_name(&a.account), contract_fee(fee));
        }
    }
    let mut plans: BTreeMap<String, PlanTariff> = billing
        .plans
        .iter()
        .map(|p| {
            (
                p.name.to_string(),
                PlanTariff {
                    flat_per_period: p.monthly,
                    per_time: p.time.map(|r| Rate {
                        unit: time_unit(r.per),
                        price: r.amount,
                    }),
                    per_volume: p.volume.map(|r| Rate {
                        unit: volume_unit(r.per),
                        price: r.amount,
                    }),
                },
            )
        })
        .collect();
    plans.insert(
        no_plan_name(billing),
        PlanTariff {
            flat_per_period: 0,
            per_time: None,
            per_volume: None,
        },
    );
    Tariffs {
        currency: billing.currency.clone(),
        minor_unit_digits: billing.minor_digits,
        tunnel_hour: t.tunnel_hour,
        line_month: t.line_month,
        // `cost_per_month` is already the line's own or the tariff's line_month.
        line_month_by_line: lac
            .lines
            .iter()
            .map(|l| (l.name.to_string(), l.cost_per_month))
            .collect(),
        consolidation: ConsolidationTariff {
            basis: consolidation_basis(t.consolidation_fee.per),
            // The config has no per-period service fee; the whole fee is metered.
            per_period: 0,
            usage: Rate {
                unit: Unit::Hour,
                price: t.consolidation_fee.amount,
            },
        },
        contract_fees,
        private_lines: lac
            .lines
            .iter()
            .filter(|l| l.private_account.is_some())
            .map(|l| l.name.to_string())
            .collect(),
        plans,
    }
}

/// The engine contract of one subscriber.
pub fn contract_of(billing: &BillingConfig, subscriber: &SubscriberRef<'_>) -> SubscriberContract {
    let c: &Contract = &subscriber.settings.contract;
    let account = subscriber.account().to_owned();
    let plan = match c.plan {
        Some(id) => billing.plan(id).name.to_string(),
        None => no_plan_name(billing),
    };
    let supplementary = c.supplementary.then(|| {
        match billing.account(&account).and_then(|a| a.supplementary_fee) {
            Some(_) => account_fee_name(&account),
            None => TARIFF_FEE.to_owned(),
        }
    });
    SubscriberContract {
        subscriber: subscriber.name.to_string(),
        account,
        plan,
        consolidation: c.consolidation,
        supplementary,
    }
}

/// Contracts for every subscriber listed by name, plus those of `seen` that the configuration
/// knows (range members among them). Names the configuration does not know are left out: the
/// invoice lists their usage as unbilled.
pub fn contracts_for<'a>(config: &'a Config, seen: impl IntoIterator<Item = &'a str>) -> Contracts {
    let table = &config.subscribers;
    let mut names: BTreeSet<&str> = table.explicit().iter().map(|s| &*s.name).collect();
    names.extend(seen);
    Contracts {
        subscribers: names
            .into_iter()
            .filter_map(|name| table.get(name))
            .map(|s| contract_of(&config.billing, &s))
            .collect(),
    }
}

/// Ranges whose members owe something even in a period without usage (a flat plan fee, or a
/// fixed supplementary fee for their account): members without usage are not invoiced, since
/// ranges are not enumerated (see the module docs).
pub fn ranges_missing_fixed_fees(config: &Config) -> Vec<&SubscriberRange> {
    let b = &config.billing;
    config
        .subscribers
        .ranges()
        .iter()
        .filter(|r| {
            let c = &r.settings.contract;
            let flat = c.plan.is_some_and(|p| b.plan(p).monthly != 0);
            let fixed = c.supplementary
                && c.account.as_deref().is_some_and(
                    |a| matches!(b.supplementary_fee_for(a), ContractFee::Fixed(f) if f != 0),
                );
            flat || fixed
        })
        .collect()
}

/// Puts the configured display names (`[[billing.accounts]] display_name`) on the invoice.
pub fn name_accounts(invoice: &mut Invoice, billing: &BillingConfig) {
    for a in &mut invoice.accounts {
        a.display_name = billing
            .account(&a.account)
            .and_then(|c| c.display_name.clone());
    }
}

/// Ledger directories the daemon may be using, in the order it tries state directories
/// ([`super::DaemonConfig::state_dir_candidates`]): the ledger is
/// [`BillingConfig::ledger_dir`] of the first state directory the daemon could create. A reader
/// takes the first of these that exists.
pub fn ledger_dir_candidates(config: &Config, env: EnvLookup<'_>, euid: u32) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for state in config.daemon.state_dir_candidates(env, euid) {
        let dir = config.billing.ledger_dir(&state);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::path::Path;

    use super::*;
    use crate::config::load_str;
    use crate::engine::invoice::ContractTable;

    const CONFIG: &str = r#"
[daemon]
state_dir = "/srv/l2tpagg"

[lac]
[[lac.lines]]
name = "fiber"
bind = "192.0.2.1"
capacity = "1G"
cost_per_month = 90000
[[lac.lines]]
name = "copper"
bind = "192.0.2.2"
capacity = "100M"
[[lac.lines]]
name = "private-acme"
bind = "192.0.2.3"
capacity = "100M"
private_account = "ACME"

[[lac.peers]]
name = "lns"
address = "198.51.100.1"
realms = ["*"]

[[subscriber]]
name = "alice"
secret = "a"
contract = { account = "ACME", supplementary = true, plan = "per-minute" }
[[subscriber]]
name = "bob"
secret = "b"
contract = { account = "ACME", consolidation = true, plan = "flat" }
[[subscriber]]
name = "carol"
secret = "c"

[[subscriber_range]]
prefix = "u"
first = 1
count = 100000
secret = "demo"
contract = { plan = "flat" }

[billing]
currency = "JPY"
minor_digits = 0
[billing.tariff]
tunnel_hour = 12
line_month = 5000
consolidation_fee = { per = "line", amount = 7 }
supplementary_fee = { fixed = 300 }
[[billing.plans]]
name = "flat"
monthly = 1999
[[billing.plans]]
name = "per-minute"
time = { amount = 2, per = "minute" }
volume = { amount = 50, per = "gigabyte" }
[[billing.accounts]]
account = "ACME"
display_name = "ACME Ltd."
supplementary_fee = { metered = 10, unit = "megabyte" }
"#;

    fn config() -> Config {
        load_str("test.toml", CONFIG).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn tariffs_carry_every_price_in_engine_terms() {
        let c = config();
        let t = tariffs(&c.billing, &c.lac);
        t.validate().unwrap();
        assert_eq!((t.currency.as_str(), t.minor_unit_digits), ("JPY", 0));
        assert_eq!((t.tunnel_hour, t.line_month), (12, 5000));
        assert_eq!(
            t.line_month_by_line,
            BTreeMap::from([
                ("fiber".to_owned(), 90000),
                ("copper".to_owned(), 5000),
                ("private-acme".to_owned(), 5000),
            ])
        );
        assert_eq!(t.private_lines, BTreeSet::from(["private-acme".to_owned()]));
        assert_eq!(
            t.consolidation,
            ConsolidationTariff {
                basis: tariff::ConsolidationBasis::Lines,
                per_period: 0,
                usage: Rate {
                    unit: Unit::Hour,
                    price: 7
                },
            }
        );
        assert_eq!(t.contract_fees[TARIFF_FEE].fixed_per_period, 300);
        assert_eq!(
            t.contract_fees["account:ACME"],
            ContractFeeTariff {
                fixed_per_period: 0,
                metered: Some(Rate {
                    unit: Unit::Megabyte,
                    price: 10
                }),
            }
        );
        let pm = &t.plans["per-minute"];
        assert_eq!(pm.flat_per_period, 0);
        assert_eq!(
            pm.per_time,
            Some(Rate {
                unit: Unit::Minute,
                price: 2
            })
        );
        assert_eq!(
            pm.per_volume,
            Some(Rate {
                unit: Unit::Gigabyte,
                price: 50
            })
        );
        assert_eq!(t.plans["flat"].flat_per_period, 1999);
        assert_eq!(
            t.plans[NO_PLAN],
            PlanTariff {
                flat_per_period: 0,
                per_time: None,
                per_volume: None
            }
        );
    }

    #[test]
    fn contracts_cover_named_subscribers_and_the_range_members_seen() {
        let c = config();
        let contracts = contracts_for(&c, ["u7", "u100001", "stranger", "alice"]);
        let names: Vec<&str> = contracts
            .subscribers
            .iter()
            .map(|s| s.subscriber.as_str())
            .collect();
        // u100001 is past the range's end and stranger is unknown: unbilled, not contracted.
        assert_eq!(names, ["alice", "bob", "carol", "u7"]);
        let by = |n: &str| {
            contracts
                .subscribers
                .iter()
                .find(|s| s.subscriber == n)
                .unwrap()
        };
        assert_eq!(by("alice").account, "ACME");
        assert_eq!(by("alice").supplementary.as_deref(), Some("account:ACME"));
        assert_eq!(by("bob").supplementary, None);
        assert!(by("bob").consolidation);
        assert_eq!(by("carol").account, "carol");
        assert_eq!(by("carol").plan, NO_PLAN);
        assert_eq!(by("u7").account, "u7");
        assert_eq!(by("u7").plan, "flat");
        // The engine accepts what the mapping makes.
        let table = ContractTable::build(&contracts, &tariffs(&c.billing, &c.lac)).unwrap();
        assert_eq!(
            table.private_line_group("alice"),
            Some(&["alice".to_owned(), "bob".to_owned()][..])
        );
        assert_eq!(ranges_missing_fixed_fees(&c).len(), 1);
    }

    #[test]
    fn the_default_fee_applies_without_an_account_override() {
        let text = CONFIG.replace(
            "supplementary_fee = { metered = 10, unit = \"megabyte\" }",
            "",
        );
        let c = load_str("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        let contracts = contracts_for(&c, []);
        assert_eq!(
            contracts.subscribers[0].supplementary.as_deref(),
            Some(TARIFF_FEE)
        );
        assert!(
            !tariffs(&c.billing, &c.lac)
                .contract_fees
                .contains_key("account:ACME")
        );
    }

    #[test]
    fn a_plan_named_like_the_no_fee_plan_does_not_collide() {
        let text = CONFIG
            .replace("name = \"flat\"", "name = \"(no plan)\"")
            .replace("plan = \"flat\"", "plan = \"(no plan)\"");
        let c = load_str("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        let t = tariffs(&c.billing, &c.lac);
        assert_eq!(t.plans["(no plan)"].flat_per_period, 1999);
        assert_eq!(t.plans["(no plan)'"].flat_per_period, 0);
        let carol = contracts_for(&c, [])
            .subscribers
            .into_iter()
            .find(|s| s.subscriber == "carol");
        assert_eq!(carol.unwrap().plan, "(no plan)'");
    }

    #[test]
    fn the_ledger_is_under_each_state_directory_candidate() {
        let c = config();
        let env = |_: &str| -> Option<OsString> { None };
        assert_eq!(
            ledger_dir_candidates(&c, &env, 1000),
            [Path::new("/srv/l2tpagg/ledger")]
        );
        let auto = load_str("t.toml", "[billing.ledger]\ndirectory = \"usage\"\n").unwrap();
        let env = |k: &str| (k == "HOME").then(|| OsString::from("/home/op"));
        assert_eq!(
            ledger_dir_candidates(&auto, &env, 1000),
            [
                PathBuf::from("/home/op/.local/state/l2tpagg/usage"),
                PathBuf::from("/tmp/l2tpagg-1000/state/usage"),
            ]
        );
        let absolute =
            load_str("t.toml", "[billing.ledger]\ndirectory = \"/data/ledger\"\n").unwrap();
        assert_eq!(
            ledger_dir_candidates(&absolute, &env, 0),
            [PathBuf::from("/data/ledger")]
        );
    }
}
