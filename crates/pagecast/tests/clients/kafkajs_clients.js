// kafkajs (its own protocol code, in JavaScript) against a running `pagecast broker`,
// driven by tests/broker_clients.rs: creates a topic, produces with the idempotent
// producer, consumes everything back in a consumer group, and checks every key, value,
// header and offset. Exits non-zero with the reason on any difference.
//
//     node kafkajs_clients.js BOOTSTRAP TOPIC
const { Kafka, logLevel } = require('kafkajs')

const [bootstrap, topic] = process.argv.slice(2)
const kafka = new Kafka({ clientId: 'kafkajs-test', brokers: [bootstrap], logLevel: logLevel.WARN })
const COUNT = 200

function fail (msg) {
  console.error(`FAILED: ${msg}`)
  process.exit(1)
}

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const messages = Array.from({ length: COUNT }, (_, i) => ({
    key: `k${i}`,
    value: `v${i}`.repeat(1 + (i % 7)),
    partition: i % 2,
    headers: { n: String(i) }
  }))
  for (let i = 0; i < COUNT; i += 50) {
    await producer.send({ topic, messages: messages.slice(i, i + 50) })
  }
  const offsets = await admin.fetchTopicOffsets(topic)
  for (const p of offsets) {
    if (p.high !== String(COUNT / 2) || p.low !== '0') fail(`partition ${p.partition} holds ${p.low}..${p.high}`)
  }

  const consumer = kafka.consumer({ groupId: `${topic}-group`, sessionTimeout: 10000 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const seen = new Map()
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${seen.size} of ${COUNT} in 30 s`)), 30000)
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        const i = Number(message.headers.n.toString())
        const want = messages[i]
        if (message.key.toString() !== want.key || message.value.toString() !== want.value || partition !== want.partition) {
          reject(new Error(`record ${i} came back as ${message.key}=${message.value} in partition ${partition}`))
        }
        if (message.offset !== String(Math.floor(i / 2))) reject(new Error(`record ${i} at offset ${message.offset}`))
        seen.set(i, true)
        if (seen.size === COUNT) { clearTimeout(timer); resolve() }
      }
    })
  })
  await consumer.disconnect()
  const committed = await admin.fetchOffsets({ groupId: `${topic}-group`, topics: [topic] })
  for (const p of committed[0].partitions) {
    if (p.offset !== String(COUNT / 2)) fail(`the group committed ${p.offset} for partition ${p.partition}`)
  }
  // Two members share the topic; when one leaves, the other takes its partition.
  const groupId = `${topic}-pair`
  const assigned = [[], []]
  const pair = [0, 1].map(i => {
    const c = kafka.consumer({ groupId, sessionTimeout: 10000, rebalanceTimeout: 10000 })
    c.on(c.events.GROUP_JOIN, e => { assigned[i] = e.payload.memberAssignment[topic] || [] })
    return c
  })
  for (const c of pair) {
    await c.connect()
    await c.subscribe({ topic, fromBeginning: true })
    await c.run({ eachMessage: async () => {} })
  }
  const until = async (what, check) => {
    const deadline = Date.now() + 30000
    while (!check()) {
      if (Date.now() > deadline) fail(`${what}: assignments ${JSON.stringify(assigned)}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
  await until('the two members never split the partitions', () => assigned[0].length === 1 && assigned[1].length === 1)
  await pair[1].disconnect()
  await until('the remaining member never took both partitions', () => assigned[0].length === 2)
  await pair[0].disconnect()
  await producer.disconnect()
  await admin.disconnect()
  console.log(`kafkajs: ${COUNT} records produced idempotently and consumed in a group, offsets committed; a member left and the other took its partition`)
}

main().catch(e => fail(e.stack || e))
