import { Body, Controller, Post, UseInterceptors } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createIdempotency } from 'idemkit';
import { idempotency } from 'idemkit/nestjs';
import { memoryStore } from 'idemkit/stores/memory';

let charges = 0;
@Controller('v1/charges')
@UseInterceptors(idempotency(createIdempotency({ store: memoryStore() }), { required: true }))
class ChargesController {
  @Post() create(@Body() body: object) {
    return { id: `ch_${++charges}`, ...body };
  }
}
const app = await NestFactory.create({ module: class App {}, controllers: [ChargesController] });
await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
