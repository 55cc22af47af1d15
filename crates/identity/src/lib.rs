//! Identity building blocks with no I/O beyond the key directory: password hashing and
//! signed tokens that any server replica holding the key material validates without a
//! database read.
//!
//! Tokens are `nt1.<key id>.<payload>.<signature>`: the payload (base64url JSON claims) is
//! signed with HMAC-SHA256 under the key named by the id. Keys live in a key repository
//! directory, one file per key; the highest id signs, every key present validates, so a
//! rotation adds a new key and old tokens keep working until their key is removed (see
//! [`keys::KeyRepository::rotate`]).

pub mod keys;
pub mod password;
pub mod revoke;
pub mod token;

pub use keys::{KeyError, KeyRepository};
pub use revoke::{RevocationEvent, Revocations};
pub use token::{AppCredRef, Claims, RoleRef, TokenError, TokenSigner};
