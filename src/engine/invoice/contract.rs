//! Contracts: who pays for whom, and which services each subscriber has (seed 000 claim 18).
//!
//! Owns: the contract types the integrator fills from the config, and the contract contents table
//! built from them after validation. Must not touch: tariffs' prices, the ledger, IO.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::tariff::Tariffs;

/// One subscriber's contract, as input (claim 18: "inputting the contents of a contract").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberContract {
    /// The subscriber's name as authenticated (PPP user name).
    pub subscriber: String,
    /// The paying (bank) account identifier. Subscribers sharing it get one bill (claim 19).
    pub account: String,
    /// Communication plan: a key of [`Tariffs::plans`].
    pub plan: String,
    /// Subscribes to the consolidation service (claim 1).
    #[serde(default)]
    pub consolidation: bool,
    /// The supplementary contract (claims 17-19), naming its fee tariff in
    /// [`Tariffs::contract_fees`]; `None`: no supplementary contract. All subscribers of an account
    /// that have one must name the same tariff: the account has one contract fee.
    #[serde(default)]
    pub supplementary: Option<String>,
}

/// The contract input: one entry per subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contracts {
    pub subscribers: Vec<SubscriberContract>,
}

/// Contracts that cannot be billed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    #[error("subscriber {0:?} has more than one contract")]
    DuplicateSubscriber(String),
    #[error("subscriber {0:?} has an empty paying account")]
    EmptyAccount(String),
    #[error("subscriber {subscriber:?} names plan {plan:?}, which the tariffs do not define")]
    UnknownPlan { subscriber: String, plan: String },
    #[error(
        "subscriber {subscriber:?} names contract fee {fee:?}, which the tariffs do not define"
    )]
    UnknownContractFee { subscriber: String, fee: String },
    #[error(
        "account {account:?} has supplementary contracts with two fee tariffs, {a:?} and {b:?}"
    )]
    ConflictingContractFees {
        account: String,
        a: String,
        b: String,
    },
}

/// What the contract table knows about one paying account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountTerms {
    /// Subscribers paying from this account, sorted.
    pub subscribers: Vec<String>,
    /// The supplementary contract's fee tariff, if any subscriber of the account has one.
    pub supplementary: Option<String>,
}

/// The contract contents table (claim 18: "generating a contract contents table holding contents
/// of said contract"), validated against the tariffs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContractTable {
    by_subscriber: BTreeMap<String, SubscriberContract>,
    accounts: BTreeMap<String, AccountTerms>,
}

impl ContractTable {
    /// Validates `contracts` against `tariffs` and builds the table.
    pub fn build(contracts: &Contracts, tariffs: &Tariffs) -> Result<ContractTable, ContractError> {
        let mut by_subscriber = BTreeMap::new();
        let mut accounts: BTreeMap<String, AccountTerms> = BTreeMap::new();
        for c in &contracts.subscribers {
            if c.account.is_empty() {
                return Err(ContractError::EmptyAccount(c.subscriber.clone()));
            }
            if !tariffs.plans.contains_key(&c.plan) {
                return Err(ContractError::UnknownPlan {
                    subscriber: c.subscriber.clone(),
                    plan: c.plan.clone(),
                });
            }
            if by_subscriber
                .insert(c.subscriber.clone(), c.clone())
                .is_some()
            {
                return Err(ContractError::DuplicateSubscriber(c.subscriber.clone()));
            }
            let terms = accounts
                .entry(c.account.clone())
                .or_insert_with(|| AccountTerms {
                    subscribers: Vec::new(),
                    supplementary: None,
                });
            terms.subscribers.push(c.subscriber.clone());
            if let Some(fee) = &c.supplementary {
                if !tariffs.contract_fees.contains_key(fee) {
                    return Err(ContractError::UnknownContractFee {
                        subscriber: c.subscriber.clone(),
                        fee: fee.clone(),
                    });
                }
                match &terms.supplementary {
                    Some(existing) if existing != fee => {
                        return Err(ContractError::ConflictingContractFees {
                            account: c.account.clone(),
                            a: existing.clone(),
                            b: fee.clone(),
                        });
                    }
                    _ => terms.supplementary = Some(fee.clone()),
                }
            }
        }
        for terms in accounts.values_mut() {
            terms.subscribers.sort();
        }
        Ok(ContractTable {
            by_subscriber,
            accounts,
        })
    }

    /// The contract of `subscriber`.
    pub fn contract(&self, subscriber: &str) -> Option<&SubscriberContract> {
        self.by_subscriber.get(subscriber)
    }

    /// Whether `subscriber` is under a supplementary contract (claim 18, last step).
    pub fn has_supplementary(&self, subscriber: &str) -> bool {
        self.contract(subscriber)
            .is_some_and(|c| c.supplementary.is_some())
    }

    /// The subscribers whose sessions belong together on a private line with `subscriber`'s
    /// (claim 17: users "having a common charge-paying bank account"), or `None` if `subscriber`
    /// has no supplementary contract. Includes `subscriber` itself.
    pub fn private_line_group(&self, subscriber: &str) -> Option<&[String]> {
        let c = self.contract(subscriber)?;
        c.supplementary.as_ref()?;
        self.accounts
            .get(&c.account)
            .map(|t| t.subscribers.as_slice())
    }

    /// Every paying account and its terms, sorted by account.
    pub fn accounts(&self) -> impl Iterator<Item = (&str, &AccountTerms)> {
        self.accounts.iter().map(|(a, t)| (a.as_str(), t))
    }

    /// Every contract, sorted by subscriber.
    pub fn contracts(&self) -> impl Iterator<Item = &SubscriberContract> {
        self.by_subscriber.values()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::engine::tariff::{
        ConsolidationBasis, ConsolidationTariff, ContractFeeTariff, PlanTariff, Rate, Unit,
    };

    fn tariffs() -> Tariffs {
        let fee = |fixed| ContractFeeTariff {
            fixed_per_period: fixed,
            metered: None,
        };
        Tariffs {
            currency: "EUR".into(),
            minor_unit_digits: 2,
            tunnel_hour: 1,
            line_month: 1,
            line_month_by_line: BTreeMap::new(),
            consolidation: ConsolidationTariff {
                basis: ConsolidationBasis::Lines,
                per_period: 0,
                usage: Rate {
                    unit: Unit::Hour,
                    price: 0,
                },
            },
            contract_fees: BTreeMap::from([("a".into(), fee(1)), ("b".into(), fee(2))]),
            private_lines: BTreeSet::new(),
            plans: BTreeMap::from([(
                "flat".into(),
                PlanTariff {
                    flat_per_period: 100,
                    per_time: None,
                    per_volume: None,
                },
            )]),
        }
    }

    fn c(sub: &str, acct: &str, supp: Option<&str>) -> SubscriberContract {
        SubscriberContract {
            subscriber: sub.into(),
            account: acct.into(),
            plan: "flat".into(),
            consolidation: false,
            supplementary: supp.map(str::to_owned),
        }
    }

    #[test]
    fn the_table_groups_subscribers_by_paying_account() {
        let contracts = Contracts {
            subscribers: vec![
                c("zed", "BANK-1", Some("a")),
                c("amy", "BANK-1", None),
                c("bob", "BANK-2", None),
            ],
        };
        let table = ContractTable::build(&contracts, &tariffs()).unwrap();
        let accounts: Vec<_> = table.accounts().collect();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].1.subscribers, vec!["amy", "zed"]);
        assert_eq!(accounts[0].1.supplementary.as_deref(), Some("a"));
        assert!(table.has_supplementary("zed"));
        assert!(!table.has_supplementary("amy"));
        assert_eq!(
            table.private_line_group("zed"),
            Some(&["amy".to_owned(), "zed".to_owned()][..])
        );
        assert_eq!(table.private_line_group("amy"), None);
        assert_eq!(table.private_line_group("nobody"), None);
    }

    #[test]
    fn bad_contracts_are_refused_with_the_reason() {
        let t = tariffs();
        let build =
            |v: Vec<SubscriberContract>| ContractTable::build(&Contracts { subscribers: v }, &t);
        assert_eq!(
            build(vec![c("a", "X", None), c("a", "Y", None)]),
            Err(ContractError::DuplicateSubscriber("a".into()))
        );
        assert_eq!(
            build(vec![c("a", "", None)]),
            Err(ContractError::EmptyAccount("a".into()))
        );
        let mut bad_plan = c("a", "X", None);
        bad_plan.plan = "gold".into();
        assert!(matches!(
            build(vec![bad_plan]),
            Err(ContractError::UnknownPlan { .. })
        ));
        assert!(matches!(
            build(vec![c("a", "X", Some("nope"))]),
            Err(ContractError::UnknownContractFee { .. })
        ));
        assert!(matches!(
            build(vec![c("a", "X", Some("a")), c("b", "X", Some("b"))]),
            Err(ContractError::ConflictingContractFees { .. })
        ));
    }
}
