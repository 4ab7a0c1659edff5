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
    return params.country === undefined || params.country === null ? query : query.where('country', '=', params.country)
  }
})
