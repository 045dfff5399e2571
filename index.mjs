import cjs from './index.js'

export const Agent = cjs.Agent
export const TIMINGS_CHANNEL = cjs.TIMINGS_CHANNEL
export const load = cjs.load
export default cjs.Agent
