//! Pure rules of the product: identifiers, the profile lifecycle and notification routing.
//! Nothing here touches the database or the network, and nothing reads the clock: time is
//! passed in. The services read the stored facts, ask these functions what to do and write
//! what they answer.

pub mod access;
mod actor;
pub mod content;
pub mod documents;
pub mod events;
mod identifiers;
pub mod lifecycle;
pub mod minors;
pub mod notices;
mod policy;
pub mod record;
mod routing;
pub mod visibility;

pub use actor::{Actor, ActorRef, ActorRole, Practitioner, ProviderAccount};
pub use events::{Event, EventKind, HiddenDocuments, NoticeAudience, label};
pub use identifiers::{
    ActivationCode, AddressLines, CarteVitaleSerial, Email, Ins, ParseError, PersonName, Rpps,
};
pub use lifecycle::{ProfileStatus, has_dmp};
pub use policy::Policy;
pub use routing::{
    Channel, Delivery, Reach, may_be_notified, route, route_notice, route_to_representatives,
};
pub use visibility::ProfessionCode;
