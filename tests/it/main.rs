//! The one integration-test binary: every file in `tests/it/` is a module, so the suite
//! links Cranelift, ndarray and rayon once instead of once per file.

mod cli;
mod data_files;
mod docs;
mod examples;
mod harden_tune;
mod jit_adam;
mod jit_backend;
mod jit_batchnorm;
mod jit_conv;
mod jit_elementwise;
mod jit_gelu;
mod jit_gemm;
mod jit_loss;
mod jit_pool;
mod jit_sgd;
mod lifecycle;
mod ops_mlp;
mod ops_timing;
mod ops_torch;
mod plan_gradients;
mod rl_agents;
mod rl_cli;
mod rl_dqn;
mod rl_envs;
mod rl_updates;
mod robustness;
mod shape_props;
mod shapes;
mod training;
mod tune_cli;
mod tune_core;
mod tune_prune;
mod tune_resume;
mod use_models;
mod weights;
