//! Pure rules of the product: identifiers, the profile lifecycle and notification routing.
//! Nothing here touches the database or the network.

pub mod access;
mod actor;
pub mod documents;
mod events;
mod identifiers;
mod lifecycle;
pub mod notices;
mod policy;
mod routing;

pub use actor::{Actor, ActorRef, ActorRole};
pub use events::EventKind;
pub use identifiers::{
    ActivationCode, AddressLines, CarteVitaleSerial, Email, Ins, ParseError, PersonName, Rpps,
};
pub use lifecycle::{ProfileStatus, StatusParseError};
pub use policy::Policy;
pub use routing::{Channel, Delivery, route_notice};
