//! Istio resources: the typed model, which resources concern which workload,
//! YAML parsing with positions, and `istioctl analyze`-style validation.

pub mod model;
pub mod scope;
