//! Pure rules of the product: identifiers, the profile lifecycle and notification routing.
//! Nothing here touches the database or the network, and nothing reads the clock: time is
//! passed in. The services read the stored facts, ask these functions what to do and write
//! what they answer.

pub mod documents;
mod identifiers;
pub mod lifecycle;
pub mod notices;
mod routing;

pub use identifiers::{
    ActivationCode, AddressLines, CarteVitaleSerial, Email, Ins, ParseError, PersonName, Rpps,
};
pub use lifecycle::{ProfileStatus, StatusParseError};
pub use routing::{Channel, Delivery, route_notice};
