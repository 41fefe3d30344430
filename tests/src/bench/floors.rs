//! The raw Kafka floor: produce and consume through rdkafka, nothing else.

use super::*;

/// Raw Kafka floor: produce `n` timestamped messages with acks=all and consume them.
pub fn kafka_floor(bootstrap: &str, n: usize) -> Rate {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

    let topic = format!("bench-floor-{}", uuid::Uuid::new_v4().simple());
    let producer: ThreadedProducer<DefaultProducerContext> = match ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("log_level", "3")
        .create()
    {
        Ok(p) => p,
        Err(_) => return Rate::default(),
    };
    let consumer: BaseConsumer = match ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{topic}-reader"))
        .set("auto.offset.reset", "earliest")
        .set("log_level", "3")
        .create()
    {
        Ok(c) => c,
        Err(_) => return Rate::default(),
    };
    let _ = consumer.subscribe(&[&topic]);
    // Create the topic and let the consumer join before timing.
    let _ = producer.send(
        BaseRecord::<str, [u8]>::to(&topic)
            .payload(b"warmup")
            .key("w"),
    );
    let _ = producer.flush(Duration::from_secs(10));
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(20) {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(200)) {
            break;
        }
    }
    let origin = Instant::now();
    let started = Instant::now();
    for i in 0..n {
        let payload = origin.elapsed().as_nanos().to_le_bytes();
        let key = format!("k{}", i % 16);
        let mut record = BaseRecord::to(&topic)
            .payload(&payload[..])
            .key(key.as_str());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
    }
    let mut latencies = Vec::with_capacity(n);
    let deadline = Instant::now() + Duration::from_secs(60);
    while latencies.len() < n && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200))
            && let Some(p) = m.payload()
            && p.len() == 16
        {
            let mut b = [0u8; 16];
            b.copy_from_slice(p);
            let sent = u128::from_le_bytes(b);
            latencies.push((origin.elapsed().as_nanos().saturating_sub(sent)) as f64 / 1e6);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Rate {
        per_second: latencies.len() as f64 / elapsed,
        latency: quantiles(&mut latencies),
        cpu_ms_per_op: BTreeMap::new(),
    }
}
