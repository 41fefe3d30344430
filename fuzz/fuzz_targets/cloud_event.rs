//! `lf_events::decode_cloud_event` on arbitrary bytes: what daprd hands user-progress.
//!
//! It must never panic; whatever it accepts must be a valid event that comes back
//! unchanged through its own CloudEvent envelope.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(event) = lf_events::decode_cloud_event(body) {
        assert!(
            event.validate().is_ok(),
            "decoded an invalid event: {event:?}"
        );
        let envelope =
            serde_json::to_vec(&event.to_cloud_event(None)).expect("an event serialises");
        let again = lf_events::decode_cloud_event(&envelope).expect("its own envelope decodes");
        assert_eq!(again, event, "the event changed through its envelope");
    }
});
