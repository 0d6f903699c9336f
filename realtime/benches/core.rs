//! Throughput of the realtime core with 10,000 sensors spread over the 60 INSEE grands
//! quartiers of Toulouse (the real polygons), each reading carrying three quantities (a BME280's
//! temperature, humidity, pressure). Measured in the same run:
//! - `fold`: a parsed reading into the windows (location cache, repeat check, pane update);
//! - `handle`: the same from the MQTT payload bytes (parse + validate + fold), what the service
//!   does per message;
//! - `locate` (the baseline the cache avoids): a point-in-polygon search per reading;
//! - `emit`: one aggregation over all sensors (aggregates + rolling statistics).
//!
//! Run: `cargo bench -p garonne-realtime --bench core`. Figures go in BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use garonne_neighbourhoods::{Neighbourhoods, Properties};
use garonne_payload::{Location, Quantity, Reading, Source, Timestamp, Topics};
use garonne_realtime::{Engine, Publish, Settings};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SENSORS: usize = 10_000;
/// Readings per timed batch: ten rounds of every sensor (a tenth of a second at 100 Hz).
const ROUNDS: usize = 10;

fn grands_quartiers() -> Neighbourhoods {
    let path = garonne_testkit::open_data_file("grands-quartiers-2015-population.geojson");
    Neighbourhoods::load(path, &Properties::detect()).expect("the 60 grands quartiers load")
}

/// One reading per sensor per round, sensors placed uniformly inside random grands quartiers.
fn fleet(areas: &Neighbourhoods, start: Timestamp) -> Vec<Reading> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let places: Vec<(f64, f64)> = (0..SENSORS)
        .map(|_| {
            let area = rng.random_range(0..areas.len());
            areas.random_point_in(area, &mut rng)
        })
        .collect();
    let mut readings = Vec::with_capacity(SENSORS * ROUNDS);
    for round in 0..ROUNDS {
        let time = start.add_nanos(round as i64 * 10_000_000);
        for (i, (lon, lat)) in places.iter().enumerate() {
            let mut r = Reading::new(
                format!("bench-sensor-{i:05}"),
                "bme280",
                Source::RaspberryPi,
                time,
                round as u64,
                Location::new(*lon, *lat),
            );
            r.quantities
                .set(Quantity::Temperature, 10.0 + rng.random::<f64>() * 5.0)
                .set(Quantity::RelativeHumidity, 0.5 + rng.random::<f64>() * 0.4)
                .set(
                    Quantity::AtmosphericPressure,
                    990.0 + rng.random::<f64>() * 20.0,
                );
            readings.push(r);
        }
    }
    readings
}

/// Moves a batch one batch-length later (new times and sequence numbers): untimed.
fn advance(batch: &mut [Reading]) {
    for r in batch {
        r.time = r.time.add_nanos(ROUNDS as i64 * 10_000_000);
        r.seq += ROUNDS as u64;
    }
}

fn engine(areas: Neighbourhoods) -> Engine {
    Engine::new(areas, Settings::default(), Vec::new(), Topics::default())
}

/// What one benchmark runs on: the fleet's latest readings, an engine, its output buffer.
struct Bench {
    batch: Vec<Reading>,
    engine: Engine,
    out: Vec<Publish>,
}

impl Bench {
    fn new(areas: &Neighbourhoods, start: Timestamp) -> Bench {
        Bench {
            batch: fleet(areas, start),
            engine: engine(areas.clone()),
            out: Vec::new(),
        }
    }

    /// `iters` rounds of the fleet, each moving the batch on by one reading per sensor and then
    /// calling `round` with it, the newest reading's time, the engine and the output buffer
    /// (cleared after each round); returns the sum of the times `round` measured (it leaves out
    /// what it prepares).
    fn rounds(
        &mut self,
        iters: u64,
        mut round: impl FnMut(&[Reading], Timestamp, &mut Engine, &mut Vec<Publish>) -> Duration,
    ) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            advance(&mut self.batch);
            let now = self.batch[self.batch.len() - 1].time;
            total += round(&self.batch, now, &mut self.engine, &mut self.out);
            self.out.clear();
        }
        total
    }
}

fn bench(c: &mut Criterion) {
    let areas = grands_quartiers();
    let start = Timestamp::parse("2025-11-25T12:00:00Z").expect("valid");
    let mut group = c.benchmark_group("realtime core, 10,000 sensors, 60 grands quartiers");
    group.throughput(Throughput::Elements((SENSORS * ROUNDS) as u64));
    group.measurement_time(Duration::from_secs(8));

    let mut fold = Bench::new(&areas, start);
    group.bench_function("fold (parsed reading)", |b| {
        b.iter_custom(|iters| {
            fold.rounds(iters, |batch, now, engine, out| {
                let t = Instant::now();
                for r in batch {
                    black_box(engine.fold(r, now, out));
                }
                t.elapsed()
            })
        })
    });

    let mut handle = Bench::new(&areas, start);
    let topics = Topics::default();
    group.bench_function("handle (payload bytes: parse, validate, fold)", |b| {
        b.iter_custom(|iters| {
            handle.rounds(iters, |batch, now, engine, out| {
                let wire: Vec<(String, Vec<u8>)> = batch
                    .iter()
                    .map(|r| (topics.reading(&r.sensor_id), r.to_json()))
                    .collect();
                let t = Instant::now();
                for (topic, payload) in &wire {
                    engine.handle(topic, payload, now, out);
                }
                t.elapsed()
            })
        })
    });

    {
        let batch = fleet(&areas, start);
        group.bench_function("baseline: locate every reading in the polygons", |b| {
            b.iter(|| {
                for r in &batch {
                    black_box(areas.locate(r.location.lon, r.location.lat));
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("realtime emit, 10,000 sensors, 60 grands quartiers");
    group.throughput(Throughput::Elements(SENSORS as u64));
    let mut emit = Bench::new(&areas, start);
    group.bench_function("emit (aggregates + rolling of every sensor)", |b| {
        b.iter_custom(|iters| {
            emit.rounds(iters, |batch, now, engine, out| {
                for r in batch {
                    engine.fold(r, now, out);
                }
                out.clear();
                let t = Instant::now();
                engine.emit(now, out);
                t.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
