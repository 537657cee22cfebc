//! Times every DynamoDB API call this store makes (retries included), by operation name,
//! into `crat_store_operation_duration_seconds` (an SDK interceptor: one place instead of
//! a timer beside each of the adapter's many requests).

use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// When the operation began, kept in its own config bag.
#[derive(Debug)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug)]
pub(super) struct OperationTimer;

impl Intercept for OperationTimer {
    fn name(&self) -> &'static str {
        "CratOperationTimer"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(started), Some(operation)) = (cfg.load::<Started>(), cfg.load::<Metadata>()) {
            crate::metrics::store_operation("dynamodb", operation.name(), started.0.elapsed());
        }
        Ok(())
    }
}
