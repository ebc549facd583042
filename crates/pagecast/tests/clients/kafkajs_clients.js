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
  await producer.disconnect()
  await admin.disconnect()
  console.log(`kafkajs: ${COUNT} records produced idempotently and consumed in a group, offsets committed`)
}

main().catch(e => fail(e.stack || e))
