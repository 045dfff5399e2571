import cjs from './index.js'

export const Agent = cjs.Agent
export default cjs.Agent
