//! Queue metrics over finished attempts: wait and talk time, service level in the common
//! definitions, average speed of answer and abandon rate.
//!
//! Every figure is computed from [`Finished`] records, so the same numbers come out whether the
//! records are read from the store (`getQueueMetrics`, the wallboard) or produced by a
//! simulation. A record is *answered* when it was bridged to an agent; any other finished
//! attempt (the caller hung up, timed out or left the queue) counts as *abandoned*.
//!
//! Definitions (T = the service-level threshold):
//! - wait = bridged − joined when answered, else left − joined (never below 0);
//! - talk = ended − bridged (answered records whose conversation end is known);
//! - Webitel's `getQueueMetrics` `sl` = answered with wait **< T** ÷ all records × 100
//!   ([`service_level_percent`]);
//! - SL1 = answered with wait ≤ T ÷ answered;
//! - SL2 = (answered with wait ≤ T + abandoned with wait ≤ T) ÷ (answered + abandoned), as
//!   Asterisk's `QUEUESRVLEVELPERF` with abandons: a caller who gave up within T did not
//!   experience a service failure;
//! - ASA = mean wait of the answered;
//! - abandon rate = abandoned ÷ (answered + abandoned).
//!
//! A *short abandon* (a caller who hangs up within a few seconds, often a misdial) can be
//! excluded: such records then count nowhere in SL2 and the abandon rate. SL1 and ASA are about
//! answered calls only, and Webitel's `sl` keeps its own definition, so they ignore it.

/// One finished attempt (a caller who joined a queue and has left it), timestamps in Unix ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub joined_at_ms: i64,
    /// When the caller was bridged to an agent; `None` if never answered.
    pub bridged_at_ms: Option<i64>,
    /// When the caller left the queue (answered, abandoned or timed out).
    pub left_at_ms: i64,
    /// End of the conversation with the agent; `None` if not answered (or not known yet).
    pub ended_at_ms: Option<i64>,
    pub bucket: Option<String>,
}

impl Finished {
    pub fn answered(&self) -> bool {
        self.bridged_at_ms.is_some()
    }

    /// Seconds waited: bridged − joined if answered, else left − joined; never negative.
    pub fn wait_secs(&self) -> f64 {
        let until = self.bridged_at_ms.unwrap_or(self.left_at_ms);
        millis_to_secs(until - self.joined_at_ms)
    }

    /// Seconds talked: ended − bridged, when both are known; never negative.
    pub fn talk_secs(&self) -> Option<f64> {
        Some(millis_to_secs(self.ended_at_ms? - self.bridged_at_ms?))
    }
}

fn millis_to_secs(millis: i64) -> f64 {
    millis.max(0) as f64 / 1000.0
}

/// Which records a metric looks at: the ones that joined within the last `last_minutes`
/// minutes before `now_ms` (all when `None`), of one bucket (all when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window<'a> {
    pub now_ms: i64,
    pub last_minutes: Option<u32>,
    pub bucket: Option<&'a str>,
}

impl Window<'_> {
    /// now − last_minutes ≤ joined ≤ now (a record stamped after `now` is not in any window),
    /// and the bucket matches when one is asked for.
    pub fn contains(&self, record: &Finished) -> bool {
        let since_ms = match self.last_minutes {
            Some(minutes) => self.now_ms.saturating_sub(i64::from(minutes) * 60_000),
            None => i64::MIN,
        };
        let in_time = (since_ms..=self.now_ms).contains(&record.joined_at_ms);
        let in_bucket = self
            .bucket
            .is_none_or(|bucket| record.bucket.as_deref() == Some(bucket));
        in_time && in_bucket
    }

    pub fn select<'r>(
        &self,
        records: &'r [Finished],
    ) -> impl Iterator<Item = &'r Finished> + Clone {
        let window = *self;
        records.iter().filter(move |record| window.contains(record))
    }
}

/// avg / min / max of a set of durations, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// `None` for no values (an average of nothing is unknown, not 0).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Summary> {
        let mut count = 0usize;
        let (mut sum, mut min, mut max) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
        for value in values {
            count += 1;
            sum += value;
            min = min.min(value);
            max = max.max(value);
        }
        (count > 0).then(|| Summary {
            count,
            avg: sum / count as f64,
            min,
            max,
        })
    }
}

/// Wait time of every record (answered or not); `None` on no records.
pub fn wait_time<'a>(records: impl IntoIterator<Item = &'a Finished>) -> Option<Summary> {
    Summary::of(records.into_iter().map(Finished::wait_secs))
}

/// Talk time of the answered records whose end is known; `None` when there is none.
pub fn talk_time<'a>(records: impl IntoIterator<Item = &'a Finished>) -> Option<Summary> {
    Summary::of(records.into_iter().filter_map(Finished::talk_secs))
}

/// Webitel's `getQueueMetrics` service level: records answered with a wait strictly under
/// `sl_secs` ÷ all records × 100. `None` on no records (Webitel fails with a division by zero).
pub fn service_level_percent<'a>(
    records: impl IntoIterator<Item = &'a Finished>,
    sl_secs: f64,
) -> Option<f64> {
    let (mut all, mut within) = (0usize, 0usize);
    for record in records {
        all += 1;
        if record.answered() && record.wait_secs() < sl_secs {
            within += 1;
        }
    }
    (all > 0).then(|| within as f64 / all as f64 * 100.0)
}

/// Service level in both common definitions, as fractions (0.8 = 80 %); see the module doc.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceLevels {
    /// SL1 = answered within T ÷ answered; `None` when nothing was answered.
    pub answered_within_over_answered: Option<f64>,
    /// SL2 = (answered within T + abandoned within T) ÷ (answered + abandoned); `None` when
    /// there is neither.
    pub within_over_answered_plus_abandoned: Option<f64>,
}

/// Counts and rates of a set of finished records (see the module doc for each formula).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueStats {
    pub answered: usize,
    /// Abandoned records that count (short abandons excluded).
    pub abandoned: usize,
    /// Abandoned records left out as short abandons.
    pub short_abandons: usize,
    pub service_levels: ServiceLevels,
    /// Mean wait of the answered, seconds; `None` when nothing was answered.
    pub asa_secs: Option<f64>,
    /// abandoned ÷ (answered + abandoned), a fraction; `None` when there is neither.
    pub abandon_rate: Option<f64>,
}

impl QueueStats {
    /// `sl_secs` is T; abandons with a wait under `short_abandon_secs` (when given) are
    /// excluded as short abandons.
    pub fn compute<'a>(
        records: impl IntoIterator<Item = &'a Finished>,
        sl_secs: f64,
        short_abandon_secs: Option<f64>,
    ) -> QueueStats {
        let (mut answered, mut answered_within, mut answered_wait_secs) = (0usize, 0usize, 0.0);
        let (mut abandoned, mut abandoned_within, mut short_abandons) = (0usize, 0usize, 0usize);
        for record in records {
            let wait = record.wait_secs();
            if record.answered() {
                answered += 1;
                answered_wait_secs += wait;
                answered_within += usize::from(wait <= sl_secs);
            } else if short_abandon_secs.is_some_and(|short| wait < short) {
                short_abandons += 1;
            } else {
                abandoned += 1;
                abandoned_within += usize::from(wait <= sl_secs);
            }
        }
        let ratio = |part: usize, whole: usize| (whole > 0).then(|| part as f64 / whole as f64);
        let finished = answered + abandoned;
        QueueStats {
            answered,
            abandoned,
            short_abandons,
            service_levels: ServiceLevels {
                answered_within_over_answered: ratio(answered_within, answered),
                within_over_answered_plus_abandoned: ratio(
                    answered_within + abandoned_within,
                    finished,
                ),
            },
            asa_secs: (answered > 0).then(|| answered_wait_secs / answered as f64),
            abandon_rate: ratio(abandoned, finished),
        }
    }
}

/// The last hour in steps, for a chart: callers waiting at the end of each minute and SL1 of
/// each five-minute interval.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Trend {
    /// Start of the hour (Unix ms); point `i` of `waiting` is at `from_ms + (i + 1)` minutes.
    pub from_ms: i64,
    /// Callers waiting at the end of each of the 60 minutes (the last one is now).
    pub waiting: Vec<u32>,
    /// SL1 of the callers answered in each of the 12 five-minute intervals; `None` when
    /// nobody was answered in it.
    pub service_level_1: Vec<Option<f64>>,
}

impl Trend {
    pub const MINUTES: i64 = 60;
    pub const SL_INTERVAL_MINUTES: i64 = 5;

    /// From the records that left the queue and the join times of callers still waiting;
    /// a caller counts as waiting from its join until it was bridged or left.
    pub fn compute<'a>(
        finished: impl IntoIterator<Item = &'a Finished>,
        still_waiting_since: impl IntoIterator<Item = i64>,
        now_ms: i64,
        sl_secs: f64,
    ) -> Trend {
        const MINUTE: i64 = 60_000;
        let from_ms = now_ms - Self::MINUTES * MINUTE;
        let point = |i: i64| from_ms + (i + 1) * MINUTE;
        let mut waiting = vec![0u32; Self::MINUTES as usize];
        let mut count_between = |joined: i64, until: Option<i64>| {
            for (i, slot) in waiting.iter_mut().enumerate() {
                let t = point(i as i64);
                if joined <= t && until.is_none_or(|end| end > t) {
                    *slot += 1;
                }
            }
        };
        let intervals = (Self::MINUTES / Self::SL_INTERVAL_MINUTES) as usize;
        let (mut answered, mut within) = (vec![0u32; intervals], vec![0u32; intervals]);
        for record in finished {
            count_between(
                record.joined_at_ms,
                Some(record.bridged_at_ms.unwrap_or(record.left_at_ms)),
            );
            let Some(bridged) = record.bridged_at_ms else {
                continue;
            };
            let interval = (bridged - from_ms - 1).div_euclid(Self::SL_INTERVAL_MINUTES * MINUTE);
            if let Some(i) = usize::try_from(interval).ok().filter(|&i| i < intervals) {
                answered[i] += 1;
                within[i] += u32::from(record.wait_secs() <= sl_secs);
            }
        }
        for joined in still_waiting_since {
            count_between(joined, None);
        }
        Trend {
            from_ms,
            waiting,
            service_level_1: answered
                .iter()
                .zip(&within)
                .map(|(&all, &ok)| (all > 0).then(|| f64::from(ok) / f64::from(all)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const MINUTE: i64 = 60_000;

    /// A caller who joined `ago_min` minutes before NOW, waited `wait_s` and was answered and
    /// talked `talk_s` (or abandoned when `talk_s` is `None`).
    fn record(ago_min: i64, wait_s: i64, talk_s: Option<i64>, bucket: Option<&str>) -> Finished {
        let joined = NOW - ago_min * MINUTE;
        let left = joined + wait_s * 1000;
        Finished {
            joined_at_ms: joined,
            bridged_at_ms: talk_s.map(|_| left),
            left_at_ms: left,
            ended_at_ms: talk_s.map(|talk| left + talk * 1000),
            bucket: bucket.map(str::to_owned),
        }
    }

    /// The scripted history; waits in the last hour 5, 12, 20, 15 (answered), 3, 40, 10
    /// (abandoned), 2 (answered, bucket "vip"), plus one answered call two hours ago.
    fn history() -> Vec<Finished> {
        vec![
            record(50, 5, Some(100), None),
            record(40, 12, Some(200), None),
            record(30, 20, Some(60), None),
            record(20, 15, Some(120), None),
            record(15, 3, None, None),
            record(10, 40, None, None),
            record(5, 10, None, None),
            record(1, 2, Some(30), Some("vip")),
            record(120, 1, Some(10), None),
        ]
    }

    fn last_hour() -> Window<'static> {
        Window {
            now_ms: NOW,
            last_minutes: Some(60),
            bucket: None,
        }
    }

    #[test]
    fn wait_and_talk_time_over_the_last_hour() {
        let records = history();
        let waits = wait_time(last_hour().select(&records)).unwrap();
        // 5 + 12 + 20 + 15 + 3 + 40 + 10 + 2 = 107 over 8 records.
        assert_eq!(
            waits,
            Summary {
                count: 8,
                avg: 107.0 / 8.0,
                min: 2.0,
                max: 40.0
            }
        );
        let talks = talk_time(last_hour().select(&records)).unwrap();
        // 100 + 200 + 60 + 120 + 30 = 510 over 5 answered.
        assert_eq!(
            talks,
            Summary {
                count: 5,
                avg: 102.0,
                min: 30.0,
                max: 200.0
            }
        );
        // Without a window the old call counts too.
        assert_eq!(wait_time(&records).unwrap().min, 1.0);
    }

    #[test]
    fn webitel_service_level_counts_strictly_under_t_over_all() {
        let records = history();
        // Answered under 15 s: 5, 12, 2 (15 is not under 15) → 3 of 8.
        assert_eq!(
            service_level_percent(last_hour().select(&records), 15.0),
            Some(37.5)
        );
        // Under 16 s the 15 s call counts: 4 of 8.
        assert_eq!(
            service_level_percent(last_hour().select(&records), 16.0),
            Some(50.0)
        );
    }

    #[test]
    fn sl1_sl2_asa_and_abandon_rate() {
        let records = history();
        let stats = QueueStats::compute(last_hour().select(&records), 15.0, None);
        assert_eq!(
            (stats.answered, stats.abandoned, stats.short_abandons),
            (5, 3, 0)
        );
        // SL1: 5, 12, 15, 2 within 15 s of 5 answered.
        assert_eq!(
            stats.service_levels.answered_within_over_answered,
            Some(0.8)
        );
        // SL2: 4 answered + 2 abandoned (3 s, 10 s) within 15 s, of 8.
        assert_eq!(
            stats.service_levels.within_over_answered_plus_abandoned,
            Some(0.75)
        );
        // ASA: (5 + 12 + 20 + 15 + 2) / 5.
        assert_eq!(stats.asa_secs, Some(10.8));
        assert_eq!(stats.abandon_rate, Some(3.0 / 8.0));
    }

    #[test]
    fn short_abandons_are_left_out_of_sl2_and_the_abandon_rate() {
        let records = history();
        let stats = QueueStats::compute(last_hour().select(&records), 15.0, Some(5.0));
        // The 3 s abandon goes; 40 s and 10 s stay.
        assert_eq!(
            (stats.answered, stats.abandoned, stats.short_abandons),
            (5, 2, 1)
        );
        assert_eq!(
            stats.service_levels.within_over_answered_plus_abandoned,
            Some(5.0 / 7.0)
        );
        assert_eq!(stats.abandon_rate, Some(2.0 / 7.0));
        // SL1 and ASA only look at the answered.
        assert_eq!(
            stats.service_levels.answered_within_over_answered,
            Some(0.8)
        );
        assert_eq!(stats.asa_secs, Some(10.8));
    }

    #[test]
    fn window_filters_by_join_time_and_bucket() {
        let records = history();
        let vip = Window {
            bucket: Some("vip"),
            ..last_hour()
        };
        assert_eq!(vip.select(&records).count(), 1);
        assert_eq!(
            service_level_percent(vip.select(&records), 15.0),
            Some(100.0)
        );
        let last_twelve = Window {
            last_minutes: Some(12),
            ..last_hour()
        };
        // Joined 10, 5 and 1 minutes ago.
        assert_eq!(last_twelve.select(&records).count(), 3);
        // The boundary is inclusive; a record from the future is outside.
        let mut edge = record(12, 1, None, None);
        assert!(last_twelve.contains(&edge));
        edge.joined_at_ms = NOW + 1;
        assert!(!last_twelve.contains(&edge));
        let everything = Window {
            last_minutes: None,
            ..last_hour()
        };
        assert_eq!(everything.select(&records).count(), 9);
    }

    #[test]
    fn empty_sets_are_unknown_not_zero() {
        let none: Vec<Finished> = Vec::new();
        assert_eq!(wait_time(&none), None);
        assert_eq!(talk_time(&none), None);
        assert_eq!(service_level_percent(&none, 20.0), None);
        let stats = QueueStats::compute(&none, 20.0, Some(5.0));
        assert_eq!(stats.service_levels.answered_within_over_answered, None);
        assert_eq!(
            stats.service_levels.within_over_answered_plus_abandoned,
            None
        );
        assert_eq!((stats.asa_secs, stats.abandon_rate), (None, None));
        // Only abandons: SL1 and ASA unknown, SL2 and the abandon rate known.
        let abandons = [record(1, 30, None, None)];
        let stats = QueueStats::compute(&abandons, 20.0, None);
        assert_eq!(stats.service_levels.answered_within_over_answered, None);
        assert_eq!(
            stats.service_levels.within_over_answered_plus_abandoned,
            Some(0.0)
        );
        assert_eq!(stats.abandon_rate, Some(1.0));
        assert_eq!(talk_time(&abandons), None);
    }

    #[test]
    fn inverted_timestamps_give_zero_not_negative_durations() {
        let mut odd = record(1, 10, Some(20), None);
        odd.joined_at_ms = odd.left_at_ms + 5_000;
        odd.ended_at_ms = Some(odd.left_at_ms - 1);
        assert_eq!(odd.wait_secs(), 0.0);
        assert_eq!(odd.talk_secs(), Some(0.0));
    }

    #[test]
    fn the_trend_counts_callers_waiting_at_each_minute_and_sl_per_interval() {
        const NOW: i64 = 1_800_000_000_000;
        const MIN: i64 = 60_000;
        let from = NOW - 60 * MIN;
        let call = |joined: i64, bridged: Option<i64>, left: i64| Finished {
            joined_at_ms: joined,
            bridged_at_ms: bridged,
            left_at_ms: left,
            ended_at_ms: None,
            bucket: None,
        };
        let records = [
            // Waits over the ends of minutes 1 and 2, answered after 150 s.
            call(from + 30_000, Some(from + 180_000), from + 180_000),
            // Answered within 20 s in the first interval.
            call(from + 61_000, Some(from + 70_000), from + 70_000),
            // Abandoned after waiting over the end of minute 10 only.
            call(from + 9 * MIN + 59_000, None, from + 10 * MIN + 1),
            // Joined two hours ago, answered in the last interval after a long wait.
            call(NOW - 120 * MIN, Some(NOW - 1), NOW - 1),
        ];
        let trend = Trend::compute(&records, [NOW - 90 * MIN, NOW - 30_000], NOW, 20.0);
        assert_eq!(trend.from_ms, from);
        assert_eq!(trend.waiting.len(), 60);
        // Each minute: the old caller (until NOW-1) and the one waiting since 90 min ago.
        let base = 2;
        assert_eq!(
            trend.waiting[0],
            base + 1,
            "end of minute 1: the first caller"
        );
        assert_eq!(
            trend.waiting[1],
            base + 1,
            "minute 2: the second was answered at 1:10"
        );
        assert_eq!(
            trend.waiting[2], base,
            "minute 3 ends as the first is answered"
        );
        assert_eq!(
            trend.waiting[9],
            base + 1,
            "the abandoner over the end of minute 10"
        );
        assert_eq!(trend.waiting[10], base);
        assert_eq!(
            trend.waiting[59], 2,
            "now: the 90-minute caller and the newest; the old one was answered"
        );
        assert_eq!(trend.service_level_1.len(), 12);
        assert_eq!(
            trend.service_level_1[0],
            Some(0.5),
            "one of two answered within 20 s"
        );
        assert_eq!(trend.service_level_1[1], None, "nobody answered");
        assert_eq!(trend.service_level_1[11], Some(0.0));
    }
}
