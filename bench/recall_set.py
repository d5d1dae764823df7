"""A bilingual recall set: 100 stored conversations about images, 50 queries.

Conversations are about receipts, signs, charts, documents and photos, half in English and
half in Chinese. Queries are in both languages; a third of them are cross-lingual (a
Chinese question about an English conversation or the reverse). Each query names the one
conversation that answers it. Written by hand for kanjian; no external data.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CONVERSATIONS", "QUERIES", "Conversation", "Query"]


class Conversation(NamedTuple):
    id: str
    question: str
    answer: str
    ocr: str = ""


class Query(NamedTuple):
    text: str
    target: str
    kind: str  # "en", "zh" or "cross"


C = Conversation
CONVERSATIONS: list[Conversation] = [
    # receipts (en)
    C(
        "r01",
        "What's the total on this Starbucks receipt?",
        "The total is $12.50 for a latte and a blueberry muffin.",
        "STARBUCKS LATTE 4.50 MUFFIN 8.00 TOTAL 12.50",
    ),
    C(
        "r02",
        "How much tax did I pay at Walmart?",
        "The sales tax on this Walmart receipt is $3.18 on a subtotal of $39.75.",
        "WALMART SUBTOTAL 39.75 TAX 3.18",
    ),
    C(
        "r03",
        "Which gas station is this receipt from?",
        "It is from a Shell station: 11.2 gallons of unleaded for $41.30.",
        "SHELL UNLEADED 11.2 GAL",
    ),
    C(
        "r04",
        "What did we order at the pizza place?",
        "Two large pepperoni pizzas and garlic bread, $38.40 with tip.",
        "",
    ),
    C(
        "r05",
        "Can you read the hotel invoice?",
        "Hilton Garden Inn, two nights at $129 per night, parking $20.",
        "HILTON GARDEN INN ROOM 2 NIGHTS",
    ),
    C(
        "r06",
        "How much was the taxi fare?",
        "The taxi fare was $27.60 from the airport to downtown.",
        "",
    ),
    C(
        "r07",
        "What pharmacy items are on this receipt?",
        "Ibuprofen, vitamin C and a thermometer from CVS, total $24.15.",
        "CVS PHARMACY IBUPROFEN",
    ),
    C(
        "r08",
        "Split this dinner bill between four people.",
        "The sushi dinner was $184; each of four pays $46.",
        "",
    ),
    C(
        "r09",
        "When was this electronics purchase made?",
        "Best Buy, March 3 2024: a pair of wireless headphones for $199.99.",
        "BEST BUY HEADPHONES 199.99",
    ),
    C(
        "r10",
        "Is there a discount on this grocery receipt?",
        "Yes, a 10% member discount at Whole Foods saved $6.20.",
        "",
    ),
    # receipts (zh)
    C(
        "r11",
        "这张超市小票的总金额是多少？",
        "总金额是 86.50 元，在永辉超市买了牛奶、鸡蛋和苹果。",
        "永辉超市 牛奶 鸡蛋 苹果 合计 86.50",
    ),
    C(
        "r12",
        "这张餐厅发票开给哪家公司？",
        "发票抬头是北京星辰科技有限公司，金额 560 元。",
        "增值税普通发票",
    ),
    C(
        "r13",
        "火车票上的座位号是多少？",
        "高铁票座位号 05 车 12F，北京南到上海虹桥。",
        "G13 北京南 上海虹桥",
    ),
    C("r14", "这杯奶茶多少钱？", "喜茶的芝芝莓莓一杯 29 元。", ""),
    C("r15", "电费账单这个月用了多少度电？", "本月用电 235 度，电费 128.3 元。", "国家电网 电费"),
    C("r16", "这张出租车票的里程是多少？", "出租车行驶 18.6 公里，车费 52 元。", ""),
    C(
        "r17",
        "药店收据上买了什么药？",
        "买了感冒灵颗粒和布洛芬，共 45 元。",
        "大药房 感冒灵 布洛芬",
    ),
    C("r18", "这家火锅店人均多少？", "四个人吃海底捞花了 620 元，人均 155 元。", ""),
    C("r19", "淘宝订单里的快递单号是多少？", "快递单号是 SF1234567890，顺丰速运。", ""),
    C("r20", "停车费收据上停了多长时间？", "停车三小时二十分钟，收费 25 元。", ""),
    # signs (en)
    C(
        "s01",
        "What does this parking sign say?",
        "No parking from 8am to 6pm on weekdays; tow-away zone.",
        "NO PARKING 8AM-6PM MON-FRI",
    ),
    C(
        "s02",
        "Which exit should I take for the airport?",
        "The highway sign says exit 24B for the airport, 2 miles ahead.",
        "",
    ),
    C(
        "s03",
        "What is written on the warning sign at the beach?",
        "Danger: strong currents, no swimming beyond the red flags.",
        "DANGER STRONG CURRENTS",
    ),
    C(
        "s04",
        "Read the opening hours on the bakery door.",
        "Open Tuesday to Sunday 7am to 3pm, closed Mondays.",
        "",
    ),
    C(
        "s05",
        "What does the sign at the trailhead say about bears?",
        "Bears are active in the area; store food in lockers and carry bear spray.",
        "",
    ),
    C(
        "s06",
        "Which platform does the train to Boston leave from?",
        "The departures board shows the Boston train on platform 7 at 10:15.",
        "",
    ),
    C(
        "s07",
        "What is the speed limit on this road sign?",
        "The speed limit is 35 miles per hour in the school zone.",
        "SPEED LIMIT 35",
    ),
    C(
        "s08",
        "Is smoking allowed here according to the sign?",
        "No, the sign says no smoking within 25 feet of the entrance.",
        "",
    ),
    C(
        "s09",
        "What's on the museum directory sign?",
        "Dinosaurs on floor 2, Egyptian gallery on floor 3, cafe in the basement.",
        "",
    ),
    C(
        "s10",
        "Translate the wet floor sign.",
        "It says caution, wet floor, in English and Spanish.",
        "CAUTION WET FLOOR",
    ),
    # signs (zh)
    C(
        "s11",
        "地铁站出口标志上写着什么？",
        "标志写着 A 出口通往人民广场和南京路。",
        "A出口 人民广场",
    ),
    C("s12", "这个路牌上的限速是多少？", "高速公路限速 120 公里每小时。", ""),
    C("s13", "公园门口的告示写了什么？", "禁止遛狗，开放时间早上六点到晚上十点。", "禁止遛狗"),
    C("s14", "医院指示牌上急诊在哪里？", "急诊在一楼东侧，挂号处在大厅。", ""),
    C("s15", "这块牌子上写的是什么菜？", "招牌菜是北京烤鸭和宫保鸡丁。", ""),
    C("s16", "洗手间的标识在哪个方向？", "指示牌显示洗手间在左转二十米处。", ""),
    C(
        "s17",
        "施工告示牌说什么时候完工？",
        "道路施工预计 2024 年 12 月完工，请绕行。",
        "前方施工 请绕行",
    ),
    C("s18", "这个标志是禁止拍照吗？", "是的，展厅内禁止拍照和使用闪光灯。", ""),
    C("s19", "公交站牌上有哪些线路？", "这个公交站有 15 路、23 路和夜班 N5 路。", ""),
    C("s20", "电梯里的提示写着什么？", "电梯限载 13 人，火灾时请勿乘坐电梯。", ""),
    # charts (en)
    C(
        "c01",
        "Which month had the highest sales in this bar chart?",
        "March had the highest sales with about 340 units.",
        "",
    ),
    C(
        "c02",
        "What does the pie chart say about market share?",
        "Apple holds 28% of the smartphone market, Samsung 22%.",
        "",
    ),
    C(
        "c03",
        "Describe the trend in this line graph of temperature.",
        "Average temperature rises from 5 degrees in January to 28 in July.",
        "",
    ),
    C(
        "c04",
        "What is the revenue growth shown in the chart?",
        "Quarterly revenue grew 15% year over year to 4.2 million dollars.",
        "",
    ),
    C(
        "c05",
        "How many users signed up each week?",
        "Weekly signups climbed from 120 to 480 over eight weeks.",
        "",
    ),
    C(
        "c06",
        "Which country has the largest population in the chart?",
        "India is the largest at 1.43 billion, just ahead of China.",
        "",
    ),
    C(
        "c07",
        "What does the stock price chart show?",
        "Tesla stock fell 12% in April, then recovered in May.",
        "",
    ),
    C(
        "c08",
        "Summarize the survey results histogram.",
        "Most respondents rated the product 4 out of 5.",
        "",
    ),
    C(
        "c09",
        "What is the unemployment rate in the graph?",
        "Unemployment dropped from 6.1% to 3.9% between 2021 and 2023.",
        "",
    ),
    C(
        "c10",
        "Read the axis labels of the scatter plot.",
        "X is study hours, Y is exam score; they correlate positively.",
        "",
    ),
    # charts (zh)
    C("c11", "这张柱状图里哪个季度利润最高？", "第四季度利润最高，约 520 万元。", ""),
    C("c12", "饼图显示支出的最大部分是什么？", "房租占支出的 45%，是最大的一部分。", ""),
    C(
        "c13",
        "这条折线图反映了什么房价趋势？",
        "上海房价从 2015 年到 2021 年持续上涨，之后回落。",
        "",
    ),
    C("c14", "图表中哪个城市的空气质量最差？", "石家庄的 PM2.5 浓度最高，空气质量最差。", ""),
    C("c15", "这个统计图里男女比例是多少？", "男性占 52%，女性占 48%。", ""),
    C("c16", "图中显示的用户增长率是多少？", "月活跃用户同比增长 35%。", ""),
    C("c17", "这张图里降雨量最多的是哪个月？", "七月降雨量最多，达到 210 毫米。", ""),
    C("c18", "销售额图表显示哪个产品卖得最好？", "手机壳的销售额最高，占总销售额的三成。", ""),
    C("c19", "这张成绩分布图的平均分是多少？", "全班数学平均分 78 分，最高 98 分。", ""),
    C("c20", "图表里的出口数据怎么样？", "今年出口总额增长了 8%，主要是电子产品。", ""),
    # documents (en)
    C(
        "d01",
        "Summarize this rental contract.",
        "A one-year apartment lease; rent of $1,850 is due on the first of each month.",
        "",
    ),
    C(
        "d02",
        "What is the deadline in this letter?",
        "The application deadline is June 30; late submissions are not accepted.",
        "",
    ),
    C(
        "d03",
        "What does the doctor's prescription say?",
        "Amoxicillin 500 mg three times a day for seven days.",
        "AMOXICILLIN 500MG",
    ),
    C(
        "d04",
        "Who signed this employment offer?",
        "The offer letter is signed by the HR director, Maria Lopez; salary $95,000.",
        "",
    ),
    C("d05", "What is the passport expiry date?", "The passport expires on 14 August 2029.", ""),
    C(
        "d06",
        "Read the table of contents of this book.",
        "Chapters cover introduction, methods, results, discussion and an appendix.",
        "",
    ),
    C(
        "d07",
        "What are the ingredients on this recipe card?",
        "Flour, butter, sugar, two eggs and a teaspoon of vanilla for cookies.",
        "",
    ),
    C(
        "d08",
        "What is the warranty period in the manual?",
        "The washing machine has a two-year limited warranty.",
        "",
    ),
    C(
        "d09",
        "What does the insurance policy cover?",
        "It covers fire, theft and water damage, with a $500 deductible.",
        "",
    ),
    C(
        "d10",
        "Which flight is on this boarding pass?",
        "United flight UA 857 from San Francisco to Shanghai, seat 34C, gate G92.",
        "UA857 SFO PVG",
    ),
    # documents (zh)
    C("d11", "这份合同的违约金是多少？", "合同约定违约金为合同总额的百分之二十。", ""),
    C("d12", "身份证上的地址是哪里？", "地址是浙江省杭州市西湖区文三路 88 号。", ""),
    C("d13", "这封邮件说会议改到什么时间？", "会议改到下周三下午两点，在三楼会议室。", ""),
    C("d14", "体检报告里哪项指标偏高？", "血糖偏高，空腹血糖 6.8，建议复查。", ""),
    C("d15", "营业执照上的注册资本是多少？", "注册资本为人民币五百万元。", ""),
    C("d16", "这份简历的求职者会哪些语言？", "求职者会中文、英语和日语。", ""),
    C("d17", "录取通知书是哪所大学发的？", "这是复旦大学计算机科学专业的录取通知书。", ""),
    C("d18", "说明书里说怎么给电池充电？", "使用原装充电器，充满约需两个小时。", ""),
    C("d19", "这张处方上医生开了什么药？", "医生开了阿莫西林胶囊，每天三次，每次两粒。", ""),
    C("d20", "租房合同的押金是多少？", "押金是两个月房租，共 9000 元。", ""),
    # photos (en)
    C(
        "p01",
        "What breed is the dog in this photo?",
        "It looks like a golden retriever puppy lying on the grass.",
        "",
    ),
    C(
        "p02",
        "What landmark is this?",
        "This is the Golden Gate Bridge in San Francisco at sunset.",
        "",
    ),
    C(
        "p03",
        "How many people are in the group photo?",
        "There are twelve people standing in two rows at a wedding.",
        "",
    ),
    C("p04", "What kind of flower is this?", "That is a sunflower with a bee on it.", ""),
    C(
        "p05",
        "What's wrong with my car in this picture?",
        "The front left tire is flat and the bumper is scratched.",
        "",
    ),
    C("p06", "What's in my fridge?", "Milk, eggs, cheddar cheese, spinach and leftover pasta.", ""),
    C(
        "p07",
        "What mountain is in this landscape photo?",
        "It appears to be Mount Fuji with snow on its peak.",
        "",
    ),
    C(
        "p08",
        "Is this mushroom safe to eat?",
        "It looks like a fly agaric with a red cap and white spots; it is poisonous.",
        "",
    ),
    C(
        "p09",
        "What color is the sofa in the living room photo?",
        "The sofa is dark green velvet with two yellow pillows.",
        "",
    ),
    C(
        "p10",
        "What is the bird on the feeder?",
        "It is a northern cardinal, a bright red songbird.",
        "",
    ),
    # photos (zh)
    C("p11", "这张照片里的猫是什么颜色的？", "照片里的猫是橘色的，趴在沙发上睡觉。", ""),
    C("p12", "这是哪里的风景？", "这是桂林漓江的山水，有竹筏在江上。", ""),
    C("p13", "照片里的菜是什么？", "是一盘麻婆豆腐和一碗米饭。", ""),
    C("p14", "这辆车是什么牌子？", "这是一辆白色的比亚迪电动汽车。", ""),
    C("p15", "照片里的孩子在做什么？", "孩子们在公园里放风筝。", ""),
    C("p16", "这张合影是在长城拍的吗？", "是的，背景是八达岭长城，大家穿着冬装。", ""),
    C("p17", "这盆植物需要多浇水吗？", "这是多肉植物，不需要经常浇水，每两周一次就够。", ""),
    C("p18", "照片中的建筑是什么风格？", "这是江南园林风格的建筑，有白墙黑瓦。", ""),
    C("p19", "这只狗是什么品种？", "这是一只柴犬，正在雪地里玩。", ""),
    C("p20", "天空中的是彩虹吗？", "是的，雨后山顶上出现了一道双彩虹。", ""),
]

Q = Query
QUERIES: list[Query] = [
    # English -> English
    Q("Starbucks latte receipt", "r01", "en"),
    Q("sales tax at Walmart", "r02", "en"),
    Q("hotel invoice nights", "r05", "en"),
    Q("split the sushi dinner", "r08", "en"),
    Q("no parking tow-away zone", "s01", "en"),
    Q("bear spray at the trailhead", "s05", "en"),
    Q("smartphone market share pie chart", "c02", "en"),
    Q("unemployment rate graph", "c09", "en"),
    Q("boarding pass flight to Shanghai", "d10", "en"),
    Q("washing machine warranty", "d08", "en"),
    Q("golden retriever photo", "p01", "en"),
    Q("poisonous mushroom", "p08", "en"),
    Q("Mount Fuji picture", "p07", "en"),
    Q("train platform to Boston", "s06", "en"),
    Q("offer letter salary", "d04", "en"),
    Q("cookie recipe ingredients", "d07", "en"),
    Q("gas station gallons", "r03", "en"),
    # Chinese -> Chinese
    Q("超市小票总金额", "r11", "zh"),
    Q("发票抬头公司", "r12", "zh"),
    Q("高铁座位号", "r13", "zh"),
    Q("电费用了多少度", "r15", "zh"),
    Q("人民广场出口", "s11", "zh"),
    Q("公园禁止遛狗", "s13", "zh"),
    Q("公交线路站牌", "s19", "zh"),
    Q("季度利润柱状图", "c11", "zh"),
    Q("上海房价趋势", "c13", "zh"),
    Q("合同违约金", "d11", "zh"),
    Q("体检血糖偏高", "d14", "zh"),
    Q("复旦大学录取通知书", "d17", "zh"),
    Q("桂林漓江风景", "p12", "zh"),
    Q("麻婆豆腐照片", "p13", "zh"),
    Q("柴犬在雪地", "p19", "zh"),
    Q("租房押金", "d20", "zh"),
    # cross-lingual: Chinese query -> English conversation, and the reverse
    Q("星巴克收据", "r01", "cross"),
    Q("出租车费多少钱", "r06", "cross"),
    Q("药店买了什么", "r07", "cross"),
    Q("海滩警告标志", "s03", "cross"),
    Q("限速标志", "s07", "cross"),
    Q("温度折线图", "c03", "cross"),
    Q("人口最多的国家", "c06", "cross"),
    Q("护照到期日期", "d05", "cross"),
    Q("金门大桥", "p02", "cross"),
    Q("向日葵", "p04", "cross"),
    Q("orange cat sleeping on the sofa", "p11", "cross"),
    Q("milk tea price", "r14", "cross"),
    Q("emergency room sign in the hospital", "s14", "cross"),
    Q("rainfall chart wettest month", "c17", "cross"),
    Q("registered capital business license", "d15", "cross"),
    Q("kids flying kites in the park", "p15", "cross"),
    Q("Great Wall group photo", "p16", "cross"),
]
