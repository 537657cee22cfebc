//! DynamoDB adapter: every store port on one table (single-table design).
//!
//! The item mapping lives in this module only. [`table_schema`] is the one description
//! of the table (keys, indexes, TTL) that [`DynamoStore::create_table_if_missing`]
//! creates and that the SAM template must match; `keys` lists every item's keys.
//!
//! One file per aggregate (its access patterns in its opening comment), over four
//! shared parts: `table` (schema and creation), `keys` (every PK/SK), `codec` (attribute
//! values and JSON), `requests` (single requests, queries, batches, the one
//! "condition failed" test) and `tx` (transactions, read by the role of each write).
//!
//! Timestamps are RFC 3339 UTC strings; numbers are N.

use aws_sdk_dynamodb::Client;

mod audit;
mod builds;
mod channels;
mod codec;
mod counters;
mod environments;
mod executions;
mod import;
mod job_selections;
mod keys;
mod lanes;
mod login_failures;
mod parameter_set_versions;
mod parameter_sets;
mod requests;
mod run_guards;
mod runs;
mod sessions;
mod settings;
mod table;
mod test_cases;
mod test_history;
mod test_items;
mod timing;
mod tx;

pub use table::{GsiSchema, TableSchema, table_schema};

/// All of CRAT's records in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store on `table` through `client` (with the operation timer added to it).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let config = client
            .config()
            .to_builder()
            .interceptor(timing::OperationTimer)
            .build();
        Self {
            client: Client::from_conf(config),
            table: table.into(),
        }
    }

    /// A store on `table` with the client configured from the environment
    /// (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials chain).
    pub async fn from_env(table: &str) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(Client::new(&config), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}
