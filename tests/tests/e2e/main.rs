//! End-to-end tests: real `rollcall-collector` and `rollcall-agent`
//! processes on loopback, over real TLS, on real databases.

mod agent;
mod availability;
mod backpressure;
mod cmdb;
mod console;
mod enrolment;
mod history;
mod integrations;
mod limits;
mod loadgen;
mod metrics;
mod modes;
mod openapi;
mod revocation;
mod rules;
mod security;
mod skeleton;
