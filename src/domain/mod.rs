//! Pure rules of the product: identifiers, the profile lifecycle and notification routing.
//! Nothing here touches the database or the network.

pub mod documents;
mod identifiers;
mod lifecycle;
pub mod notices;
mod routing;

pub use identifiers::{
    ActivationCode, AddressLines, CarteVitaleSerial, Email, Ins, ParseError, PersonName, Rpps,
};
pub use lifecycle::{ProfileStatus, StatusParseError};
pub use routing::{Channel, Delivery, route_notice};
