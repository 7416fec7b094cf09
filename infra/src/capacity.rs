//! What the local stack's DynamoDB calls would cost on demand: an SDK interceptor that asks
//! DynamoDB Local for the capacity each call consumes (`ReturnConsumedCapacity: TOTAL`) and adds
//! up read and write request units. DynamoDB Local reports a transactional write's units as a
//! standard write's; DynamoDB charges twice that, so transactional writes are counted double here.

use aws_sdk_dynamodb::operation::{
    batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
    delete_item::{DeleteItemInput, DeleteItemOutput},
    get_item::{GetItemInput, GetItemOutput},
    put_item::{PutItemInput, PutItemOutput},
    query::{QueryInput, QueryOutput},
    transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
    update_item::{UpdateItemInput, UpdateItemOutput},
};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::{Arc, Mutex};

/// Request units consumed so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Units {
    /// Read request units.
    pub read: f64,
    /// Write request units.
    pub write: f64,
}

/// Adds up the request units of every call made through a client it is attached to. Clones
/// share the sums.
#[derive(Clone, Debug, Default)]
pub struct CapacityMeter {
    units: Arc<Mutex<Units>>,
}

impl CapacityMeter {
    /// A meter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The units so far.
    pub fn units(&self) -> Units {
        *self.units.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Back to zero.
    pub fn reset(&self) {
        *self.units.lock().unwrap_or_else(|p| p.into_inner()) = Units::default();
    }

    fn add(&self, read: f64, write: f64) {
        let mut units = self.units.lock().unwrap_or_else(|p| p.into_inner());
        units.read += read;
        units.write += write;
    }
}

fn total<'a>(consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) -> f64 {
    consumed.into_iter().filter_map(|c| c.capacity_units).sum()
}

impl Intercept for CapacityMeter {
    fn name(&self) -> &'static str {
        "CapacityMeter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        let asked = Some(ReturnConsumedCapacity::Total);
        if let Some(i) = input.downcast_mut::<GetItemInput>() {
            i.return_consumed_capacity = asked;
        } else if let Some(i) = input.downcast_mut::<BatchGetItemInput>() {
            i.return_consumed_capacity = asked;
        } else if let Some(i) = input.downcast_mut::<QueryInput>() {
            i.return_consumed_capacity = asked;
        } else if let Some(i) = input.downcast_mut::<PutItemInput>() {
            i.return_consumed_capacity = asked;
        } else if let Some(i) = input.downcast_mut::<UpdateItemInput>() {
            i.return_consumed_capacity = asked;
        } else if let Some(i) = input.downcast_mut::<DeleteItemInput>() {
            i.return_consumed_capacity = asked;
        } else if let Some(i) = input.downcast_mut::<TransactWriteItemsInput>() {
            i.return_consumed_capacity = asked;
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        if let Some(o) = output.downcast_ref::<GetItemOutput>() {
            self.add(total(&o.consumed_capacity), 0.0);
        } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
            self.add(total(o.consumed_capacity.iter().flatten()), 0.0);
        } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
            self.add(total(&o.consumed_capacity), 0.0);
        } else if let Some(o) = output.downcast_ref::<PutItemOutput>() {
            self.add(0.0, total(&o.consumed_capacity));
        } else if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
            self.add(0.0, total(&o.consumed_capacity));
        } else if let Some(o) = output.downcast_ref::<DeleteItemOutput>() {
            self.add(0.0, total(&o.consumed_capacity));
        } else if let Some(o) = output.downcast_ref::<TransactWriteItemsOutput>() {
            self.add(0.0, 2.0 * total(o.consumed_capacity.iter().flatten()));
        }
        Ok(())
    }
}
