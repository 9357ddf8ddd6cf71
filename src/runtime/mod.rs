pub mod reference;
pub mod train;
