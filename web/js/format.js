// Dates and times for display. No DOM access.

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth()
    && a.getDate() === b.getDate();
}

export function parseTimestamp(ts) {
  const date = new Date(ts);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "14:05" for a message (its day is shown by the day separator). */
export function formatTime(ts, locale = undefined) {
  const date = parseTimestamp(ts);
  if (!date) return '';
  return new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' }).format(date);
}

/** The full date and time, for a tooltip. */
export function formatFull(ts, locale = undefined) {
  const date = parseTimestamp(ts);
  if (!date) return '';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'full', timeStyle: 'medium' }).format(date);
}

/** The local calendar day of a timestamp, e.g. "2026-01-02" (a key for day separators). */
export function dayKey(ts) {
  const date = parseTimestamp(ts);
  if (!date) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** "Today", "Yesterday" or a date, for a day separator. */
export function dayLabel(ts, now = new Date(), locale = undefined) {
  const date = parseTimestamp(ts);
  if (!date) return '';
  if (sameDay(date, now)) return 'Today';
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(date, yesterday)) return 'Yesterday';
  const options = { weekday: 'long', day: 'numeric', month: 'long' };
  if (date.getFullYear() !== now.getFullYear()) options.year = 'numeric';
  return new Intl.DateTimeFormat(locale, options).format(date);
}
