'use strict';
// A Node consumer of an sqsobs producer's queue, set up as the OpenTelemetry JS docs say: the
// Node SDK's tracer provider with W3C and AWS X-Ray propagators, and the AWS SDK instrumentation.
// For each message it starts a `process {queue}` span whose parent is the message's creation
// context: the W3C `traceparent` message attribute, else the `AWSTraceHeader` system attribute
// (read by the X-Ray propagator). Every finished span is printed as one JSON line on stdout.
//
// Usage: AWS_ENDPOINT_URL=http://127.0.0.1:PORT node consumer.js QUEUE_URL COUNT

const api = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const {
  CompositePropagator,
  ExportResultCode,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} = require('@opentelemetry/core');
const { AWSXRayPropagator } = require('@opentelemetry/propagator-aws-xray');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { AwsInstrumentation } = require('@opentelemetry/instrumentation-aws-sdk');

class JsonLinesExporter {
  export(spans, done) {
    for (const span of spans) {
      const context = span.spanContext();
      console.log(
        JSON.stringify({
          name: span.name,
          kind: span.kind,
          traceId: context.traceId,
          spanId: context.spanId,
          parentSpanId: span.parentSpanContext ? span.parentSpanContext.spanId : null,
          links: span.links.map((link) => ({
            traceId: link.context.traceId,
            spanId: link.context.spanId,
          })),
        }),
      );
    }
    done({ code: ExportResultCode.SUCCESS });
  }

  shutdown() {
    return Promise.resolve();
  }
}

const provider = new NodeTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new JsonLinesExporter())],
});
provider.register({
  propagator: new CompositePropagator({
    propagators: [
      new W3CTraceContextPropagator(),
      new W3CBaggagePropagator(),
      new AWSXRayPropagator(),
    ],
  }),
});
registerInstrumentations({ instrumentations: [new AwsInstrumentation()] });

// Required after the instrumentation is registered, so that it is patched.
const {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SQSClient,
} = require('@aws-sdk/client-sqs');

// The creation context: W3C attributes first, else X-Ray's AWSTraceHeader (its header name is
// what AWSXRayPropagator reads).
function creationContext(message) {
  const carrier = {};
  for (const [name, attribute] of Object.entries(message.MessageAttributes || {})) {
    if (typeof attribute.StringValue === 'string') carrier[name] = attribute.StringValue;
  }
  const header = (message.Attributes || {}).AWSTraceHeader;
  if (!carrier.traceparent && header) carrier['x-amzn-trace-id'] = header;
  return api.propagation.extract(api.ROOT_CONTEXT, carrier);
}

async function main() {
  const [queueUrl, countText] = process.argv.slice(2);
  const expected = Number(countText);
  const queue = queueUrl.split('/').pop();
  const client = new SQSClient({ endpoint: process.env.AWS_ENDPOINT_URL, region: 'us-east-1' });
  const tracer = api.trace.getTracer('node-consumer');
  const deadline = Date.now() + 20000;
  let handled = 0;
  while (handled < expected && Date.now() < deadline) {
    const received = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['AWSTraceHeader'],
      }),
    );
    const messages = received.Messages || [];
    for (const message of messages) {
      const span = tracer.startSpan(
        `process ${queue}`,
        {
          kind: api.SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'aws_sqs',
            'messaging.operation.type': 'process',
            'messaging.destination.name': queue,
            'messaging.message.id': message.MessageId,
          },
        },
        creationContext(message),
      );
      span.end();
      handled += 1;
    }
    if (messages.length) {
      await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
  }
  await provider.shutdown();
  if (handled < expected) {
    console.error(`handled ${handled} of ${expected} messages`);
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
