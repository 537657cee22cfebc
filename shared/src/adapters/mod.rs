//! Storage adapters: the embedded file store (SQLite) and DynamoDB.

pub mod dynamodb;
pub mod sqlite;

pub use dynamodb::DynamoStore;
pub use sqlite::SqliteStore;
