//! Driver errors mapped onto [`StoreError`], precisely and without document
//! contents (a duplicate-key message carries the key's values, so it is
//! never copied; only the index name is read from it).

use mongodb::error::{
    Error, ErrorKind, RETRYABLE_WRITE_ERROR, TRANSIENT_TRANSACTION_ERROR, WriteFailure,
};
use peer_store::{ConflictKind, StoreError};

/// MongoDB's duplicate key error code.
pub(crate) const DUPLICATE_KEY: i32 = 11000;

/// Server error codes that mean "not now": shutting down, stepping down,
/// no primary, network trouble, write concern not satisfied in time,
/// transient transaction conflicts.
const UNAVAILABLE_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    50,    // MaxTimeMSExpired
    64,    // WriteConcernFailed
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    112,   // WriteConflict
    189,   // PrimarySteppedDown
    251,   // NoSuchTransaction
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// Which conflict a unique index stands for. `id_conflict` is what a
/// duplicate `_id` means for the collection written.
pub(crate) fn conflict_for_index(message: &str, id_conflict: ConflictKind) -> ConflictKind {
    // "E11000 duplicate key error collection: db.coll index: NAME dup key: {..}"
    let name = message
        .split_once("index: ")
        .map(|(_, rest)| rest.split_whitespace().next().unwrap_or(""))
        .unwrap_or("");
    match name {
        "_id_" => id_conflict,
        crate::codec::IDX_USER_NAME => ConflictKind::UserName,
        crate::codec::IDX_MEMBER => ConflictKind::Member,
        crate::codec::IDX_INVITE => ConflictKind::InviteCode,
        crate::codec::IDX_ENVELOPE => ConflictKind::Envelope,
        crate::codec::IDX_MESSAGE => ConflictKind::MessageSeq,
        crate::codec::IDX_BAN => ConflictKind::Banned,
        _ => id_conflict,
    }
}

/// True for a duplicate key error of any shape.
pub(crate) fn is_duplicate(e: &Error) -> bool {
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(we)) => we.code == DUPLICATE_KEY,
        ErrorKind::Command(ce) => ce.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// True when no server could be reached at all (selection failed, the
/// connection broke): retrying or compensating now would only wait again.
pub(crate) fn is_unreachable(e: &Error) -> bool {
    matches!(
        &*e.kind,
        ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. }
            | ErrorKind::Shutdown
    )
}

/// True when a transaction should be retried from the start: the server
/// answered that it conflicted (write conflict, transient transaction
/// error). An unreachable server is not retried here: the caller gets
/// `Unavailable` within the connect timeout.
pub(crate) fn is_transient_tx(e: &Error) -> bool {
    !is_unreachable(e)
        && (e.contains_label(TRANSIENT_TRANSACTION_ERROR)
            || matches!(&*e.kind, ErrorKind::Command(ce) if ce.code == 112 || ce.code == 251))
}

/// Maps a driver error; a duplicate `_id` means `id_conflict`.
pub(crate) fn map_err_id(e: Error, id_conflict: ConflictKind) -> StoreError {
    let mapped = classify(&e, id_conflict);
    match &mapped {
        StoreError::Unavailable { reason, .. } => {
            tracing::warn!(reason = %reason, "mongodb unavailable");
        }
        StoreError::Internal(msg) => tracing::error!(error = %msg, "mongodb error"),
        _ => {}
    }
    mapped
}

/// Maps a driver error (a duplicate `_id` is `Conflict { Other }`).
pub(crate) fn map_err(e: Error) -> StoreError {
    map_err_id(e, ConflictKind::Other)
}

fn classify(e: &Error, id_conflict: ConflictKind) -> StoreError {
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(we)) if we.code == DUPLICATE_KEY => {
            StoreError::conflict(conflict_for_index(&we.message, id_conflict))
        }
        ErrorKind::Command(ce) if ce.code == DUPLICATE_KEY => {
            StoreError::conflict(conflict_for_index(&ce.message, id_conflict))
        }
        ErrorKind::Write(WriteFailure::WriteConcernError(wce)) => StoreError::unavailable(format!(
            "write concern not satisfied (code {} {})",
            wce.code, wce.code_name
        )),
        ErrorKind::Write(WriteFailure::WriteError(we)) => StoreError::internal(format!(
            "write error code {} {}",
            we.code,
            we.code_name.as_deref().unwrap_or("")
        )),
        ErrorKind::InsertMany(ime) => {
            if let Some(errors) = &ime.write_errors {
                if let Some(other) = errors.iter().find(|w| w.code != DUPLICATE_KEY) {
                    return StoreError::internal(format!(
                        "insert error code {} {}",
                        other.code,
                        other.code_name.as_deref().unwrap_or("")
                    ));
                }
                if let Some(dup) = errors.first() {
                    return StoreError::conflict(conflict_for_index(&dup.message, id_conflict));
                }
            }
            match &ime.write_concern_error {
                Some(wce) => StoreError::unavailable(format!(
                    "write concern not satisfied (code {} {})",
                    wce.code, wce.code_name
                )),
                None => StoreError::internal("insert failed"),
            }
        }
        ErrorKind::Command(ce) if UNAVAILABLE_CODES.contains(&ce.code) => {
            StoreError::unavailable(format!("server answered code {} {}", ce.code, ce.code_name))
        }
        ErrorKind::ServerSelection { .. } => {
            StoreError::unavailable("no reachable server (server selection timed out)")
        }
        ErrorKind::Io(io) => StoreError::unavailable(format!("connection error: {}", io.kind())),
        ErrorKind::ConnectionPoolCleared { .. } => {
            StoreError::unavailable("connection pool cleared after a network error")
        }
        ErrorKind::DnsResolve { .. } => StoreError::unavailable("DNS resolution failed"),
        ErrorKind::Shutdown => StoreError::unavailable("client shut down"),
        ErrorKind::Command(ce) => {
            if e.contains_label(RETRYABLE_WRITE_ERROR)
                || e.contains_label(TRANSIENT_TRANSACTION_ERROR)
            {
                StoreError::unavailable(format!(
                    "server answered code {} {}",
                    ce.code, ce.code_name
                ))
            } else {
                StoreError::internal(format!("command failed: code {} {}", ce.code, ce.code_name))
            }
        }
        ErrorKind::InvalidArgument { .. } => StoreError::internal("invalid argument to the driver"),
        ErrorKind::Authentication { .. } => StoreError::unavailable("authentication failed"),
        ErrorKind::BsonDeserialization(_) => StoreError::internal("malformed document"),
        ErrorKind::BsonSerialization(_) => StoreError::internal("unserializable value"),
        ErrorKind::Transaction { .. } => StoreError::internal("transaction misuse"),
        ErrorKind::IncompatibleServer { .. } => StoreError::internal("incompatible server"),
        ErrorKind::SessionsNotSupported => StoreError::internal("sessions not supported"),
        _ => {
            if e.contains_label(RETRYABLE_WRITE_ERROR)
                || e.contains_label(TRANSIENT_TRANSACTION_ERROR)
            {
                StoreError::unavailable("transient server error")
            } else {
                StoreError::internal("unexpected driver error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_map_to_conflicts() {
        let msg = "E11000 duplicate key error collection: t.users index: users_name_folded dup key: { name_folded: \"bob\" }";
        assert_eq!(
            conflict_for_index(msg, ConflictKind::UserId),
            ConflictKind::UserName
        );
        let msg = "E11000 duplicate key error collection: t.users index: _id_ dup key: { _id: 1 }";
        assert_eq!(
            conflict_for_index(msg, ConflictKind::UserId),
            ConflictKind::UserId
        );
        assert_eq!(
            conflict_for_index("garbage", ConflictKind::Other),
            ConflictKind::Other
        );
    }
}
