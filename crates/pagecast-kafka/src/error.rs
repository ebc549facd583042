//! Kafka's error codes, and the one function that maps a storage error to one.

/// A Kafka protocol error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub i16);

macro_rules! codes {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        impl ErrorCode {
            $(
                #[doc = $text]
                pub const $name: ErrorCode = ErrorCode($code);
            )*

            /// Kafka's name for the code, as metrics and logs show it.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($code => stringify!($name),)*
                    _ => "UNKNOWN_CODE",
                }
            }
        }
    };
}

codes! {
    UNKNOWN_SERVER_ERROR = -1, "An unexpected error on the broker.";
    NONE = 0, "No error.";
    OFFSET_OUT_OF_RANGE = 1, "The offset is outside the partition's log.";
    CORRUPT_MESSAGE = 2, "A record batch failed its CRC or is malformed.";
    UNKNOWN_TOPIC_OR_PARTITION = 3, "The topic or partition does not exist.";
    INVALID_FETCH_SIZE = 4, "The fetch size is invalid.";
    NOT_LEADER_OR_FOLLOWER = 6, "This broker does not lead the partition.";
    REQUEST_TIMED_OUT = 7, "The request timed out.";
    MESSAGE_TOO_LARGE = 10, "A batch is larger than the topic's max.message.bytes.";
    OFFSET_METADATA_TOO_LARGE = 12, "The commit's metadata is larger than offset.metadata.max.bytes.";
    COORDINATOR_LOAD_IN_PROGRESS = 14, "The coordinator is loading its state.";
    COORDINATOR_NOT_AVAILABLE = 15, "The coordinator is not available.";
    NOT_COORDINATOR = 16, "This broker is not the coordinator.";
    INVALID_TOPIC_EXCEPTION = 17, "The topic name is invalid.";
    RECORD_LIST_TOO_LARGE = 18, "The records of a partition exceed the limit.";
    INVALID_REPLICA_ASSIGNMENT = 39, "Replicas are assigned to brokers that do not exist.";
    INVALID_REQUIRED_ACKS = 21, "acks must be -1, 0 or 1.";
    ILLEGAL_GENERATION = 22, "The generation is not the group's.";
    INCONSISTENT_GROUP_PROTOCOL = 23, "The member's protocols do not fit the group's.";
    INVALID_GROUP_ID = 24, "The group ID is empty or invalid.";
    UNKNOWN_MEMBER_ID = 25, "The member is not in the group.";
    INVALID_SESSION_TIMEOUT = 26, "The session timeout is outside the broker's limits.";
    REBALANCE_IN_PROGRESS = 27, "The group is rebalancing: rejoin.";
    INVALID_COMMIT_OFFSET_SIZE = 28, "The committing offset data size is not valid.";
    TOPIC_AUTHORIZATION_FAILED = 29, "Not authorized for the topic.";
    INVALID_TIMESTAMP = 32, "A record's timestamp is out of range.";
    UNSUPPORTED_VERSION = 35, "The broker does not implement this version of the API.";
    TOPIC_ALREADY_EXISTS = 36, "The topic exists already.";
    INVALID_PARTITIONS = 37, "The partition count is invalid.";
    INVALID_REPLICATION_FACTOR = 38, "The replication factor is invalid.";
    INVALID_REQUEST = 42, "The request is malformed or not allowed.";
    POLICY_VIOLATION = 44, "The request breaks a limit the broker is configured with.";
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43, "The message format does not support the request.";
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45, "A producer sequence number skips ahead.";
    DUPLICATE_SEQUENCE_NUMBER = 46, "A producer sequence number was seen before.";
    INVALID_PRODUCER_EPOCH = 47, "The producer epoch is older than the current one.";
    INVALID_TXN_STATE = 48, "Transactions are not supported in this state.";
    UNKNOWN_PRODUCER_ID = 59, "The producer ID is not known to the broker.";
    KAFKA_STORAGE_ERROR = 56, "The broker's storage failed.";
    INVALID_CONFIG = 40, "A configuration value is invalid.";
    INVALID_RECORD = 87, "A record failed validation.";
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53, "Transactional IDs are not supported.";
    UNKNOWN_TOPIC_ID = 100, "No topic has this ID.";
    FETCH_SESSION_ID_NOT_FOUND = 70, "The fetch session is not in the broker's cache: open a new one.";
    INVALID_FETCH_SESSION_EPOCH = 71, "The fetch session epoch is not the one expected.";
    PRODUCER_FENCED = 90, "A newer producer with the same ID exists.";
    MEMBER_ID_REQUIRED = 79, "Join again with the member ID given.";
    FENCED_MEMBER_EPOCH = 110, "The member epoch is not the member's: rejoin with epoch 0.";
    UNSUPPORTED_ASSIGNOR = 112, "The assignor is not one the broker offers.";
    STALE_MEMBER_EPOCH = 113, "The member epoch is older than the member's.";
    FENCED_INSTANCE_ID = 82, "Another member now holds this static instance ID.";
    NON_EMPTY_GROUP = 68, "The group has members.";
    GROUP_ID_NOT_FOUND = 69, "The group does not exist.";
    GROUP_SUBSCRIBED_TO_TOPIC = 86, "The group's members read this topic.";
}

impl ErrorCode {
    /// Whether this is [`ErrorCode::NONE`].
    pub fn is_none(self) -> bool {
        self == ErrorCode::NONE
    }

    /// The first error among a response's codes, or NONE: what a request counts as in
    /// the metrics.
    pub fn first(codes: impl IntoIterator<Item = i16>) -> ErrorCode {
        codes
            .into_iter()
            .find(|&c| c != 0)
            .map_or(ErrorCode::NONE, ErrorCode)
    }
}

/// The Kafka error code for a storage error. Every handler maps storage failures
/// through here, so one kind of failure always reaches clients as one code.
pub fn storage_error_code(e: &pagecast_log::Error) -> ErrorCode {
    use pagecast_log::Error;
    match e {
        Error::OffsetOutOfRange { .. } => ErrorCode::OFFSET_OUT_OF_RANGE,
        Error::UnknownPartition(_) => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        Error::InvalidBatch { .. } => ErrorCode::CORRUPT_MESSAGE,
        Error::BatchTooLarge { .. } => ErrorCode::MESSAGE_TOO_LARGE,
        Error::Config(_) => ErrorCode::INVALID_TOPIC_EXCEPTION,
        _ => ErrorCode::KAFKA_STORAGE_ERROR,
    }
}

impl From<ErrorCode> for i16 {
    fn from(e: ErrorCode) -> i16 {
        e.0
    }
}
