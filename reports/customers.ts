import { defineReport } from '../src/reports/report.js'

// A report written with Kysely rather than SQL text: the same on the wire.
export default defineReport({
  title: 'Customers',
  description: 'Customers, optionally of one country.',
  key: ['id'],
  params: {
    country: { type: 'string', minLength: 2, maxLength: 2 }
  },
  query: (db, params) => {
    const query = db.selectFrom('customers')
      .select(['id', 'name', 'email', 'country', 'created_at', 'tags', 'notes'])
    // a string when asked (validated); absent, or null when the report is planned at start, when not
    return typeof params.country === 'string' ? query.where('country', '=', params.country) : query
  }
})
