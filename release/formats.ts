import { FormatRegistry } from '@sinclair/typebox';

// TypeBox's Value.Check rejects strings whose `format` is not registered, so the formats the release
// schemas use are registered once here (idempotently: the tracker may register its own).
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;

if (!FormatRegistry.Has('date-time'))
  FormatRegistry.Set('date-time', (value) => ISO_DATE_TIME.test(value) && !Number.isNaN(Date.parse(value)));
