//! Gateways: the ingress gateway (TLS termination for outside clients) and
//! the east-west gateway (SNI passthrough between clusters).

pub mod eastwest;
pub mod ingress;
