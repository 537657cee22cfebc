#![allow(clippy::unwrap_used)]
//! `shared`'s integration tests in one test binary (`cargo test -p shared --test
//! integration <module>::`): the store conformance suite on both back ends, the
//! template/ASL checks, the Step Functions adapter. The AWS SDK is linked once.

#[macro_use]
mod conformance;

mod cfn_template;
mod dynamodb_wire;
mod export_round_trip;
mod store_dynamodb;
mod store_dynamodb_calls;
mod store_dynamodb_lanes;
mod store_dynamodb_test_cases;
mod store_sqlite;
mod template_schema;
mod workflow_sfn;
